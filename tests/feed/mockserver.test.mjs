// `homelens import reso` against SAP's OData 4 mock server (@sap-ux/fe-mockserver-core), which
// serves the RESO Data Dictionary 2.0 EDMX from ../shared/data/reso/metadata with Property and
// Media entity sets made from the houses dataset; the photos come from a local HTTP server.
// 1. A full import gives the same listings, photos and attributes as `homelens index` on the
//    manifest. 2. A change set (3 prices changed, 2 photos added, 1 photo removed, 1 listing
//    withdrawn) is applied exactly by the next, incremental, import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import FEMockserverModule from '@sap-ux/fe-mockserver-core';

const FEMockserver = FEMockserverModule.default ?? FEMockserverModule;
const bin = process.env.HOMELENS_BIN;
const shared = process.env.HOMELENS_SHARED;
const houses = path.join(shared, 'data/houses_dataset');
const metadata = path.join(shared, 'data/reso/metadata/dd-2.0-enum.xml');
const houseCount = Number(process.env.HOMELENS_FEED_HOUSES || 535);

function readManifest() {
  const [header, ...lines] = fs.readFileSync(path.join(houses, 'manifest.csv'), 'utf8').trim().split('\n');
  const cols = header.split(',');
  return { header, lines, rows: lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v]))) };
}

// 2.5 baths as RESO sends them: full and half (and quarter) bathrooms.
function bathParts(baths) {
  const full = Math.floor(baths);
  const rest = Math.round((baths - full) * 100);
  return { BathroomsFull: full, BathroomsHalf: rest === 50 ? 1 : 0, BathroomsThreeQuarter: rest === 75 ? 1 : 0,
           BathroomsOneQuarter: rest === 25 ? 1 : 0, BathroomsTotalInteger: full + (rest ? 1 : 0) };
}

const stamp = (n) => new Date(Date.UTC(2026, 5, 1) + n * 1000).toISOString();  // ...T00:00:0n.000Z

function buildFeed(rows, photoBase) {
  const property = [], media = [];
  const seen = new Map();
  for (const r of rows) {
    if (!seen.has(r.house_id)) {
      seen.set(r.house_id, 0);
      property.push({ ListingKey: r.house_id, ListPrice: Number(r.price_usd), BedroomsTotal: Number(r.bedrooms),
                      ...bathParts(Number(r.bathrooms)), LivingArea: Number(r.area_sqft), PostalCode: r.zipcode,
                      StandardStatus: 'Active', ModificationTimestamp: stamp(property.length) });
    }
    const order = seen.get(r.house_id);
    seen.set(r.house_id, order + 1);
    media.push({ MediaKey: path.basename(r.path, '.jpg'), ResourceRecordKey: r.house_id, ResourceName: 'Property',
                 MediaURL: `${photoBase}/${r.path}`, Order: order, MediaCategory: 'Photo', PreferredPhotoYN: false,
                 MediaModificationTimestamp: stamp(0) });
  }
  return { property, media };
}

async function startMock(dataDir, port) {
  const mock = new FEMockserver({ services: [{ urlPath: '/odata', metadataPath: metadata, mockdataPath: dataDir,
                                               generateMockData: false }] });
  await mock.isReady;
  const router = mock.getRouter();
  const server = http.createServer((req, res) => router(req, res, () => { res.statusCode = 404; res.end(); }));
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, mock, port: server.address().port };
}

const stop = (s) => new Promise((resolve) => s.server.close(() => s.mock.dispose().then(resolve, resolve)));

function sql(db, query) {
  return execFileSync('sqlite3', ['-readonly', '-separator', '|', db, query], { encoding: 'utf8' }).trim();
}
const listingRows = (db) => sql(db, 'SELECT id, price, beds, baths, area, zip FROM listings ORDER BY id');
const imageRows = (db) => sql(db, 'SELECT listing_id, sha256, photo_order FROM images ORDER BY listing_id, photo_order');

// Asynchronous: the mock server answers from this process's event loop.
async function homelens(args) {
  const { stdout, stderr } = await promisify(execFile)(bin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (stderr) process.stderr.write(stderr);
  return stdout;
}

const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('a full import equals homelens index, and a change set is applied exactly', { timeout: 1_500_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'homelens-feed-'));
  const { header, lines, rows } = readManifest();
  const ids = [...new Set(rows.map((r) => r.house_id))].slice(0, houseCount);
  const keep = new Set(ids);
  const subset = rows.filter((r) => keep.has(r.house_id));
  fs.writeFileSync(path.join(tmp, 'manifest.csv'),
                   [header, ...lines.filter((_, i) => keep.has(rows[i].house_id))].join('\n') + '\n');

  const photos = http.createServer((req, res) => {
    const file = path.join(houses, decodeURIComponent(req.url.split('?')[0]));
    if (!file.startsWith(houses) || !fs.existsSync(file)) { res.statusCode = 404; res.end(); return; }
    res.setHeader('Content-Type', 'image/jpeg');
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => photos.listen(0, '127.0.0.1', resolve));
  const photoBase = `http://127.0.0.1:${photos.address().port}`;

  const dataDir = path.join(tmp, 'data');
  fs.mkdirSync(dataDir);
  const feed = buildFeed(subset, photoBase);
  const write = () => {
    fs.writeFileSync(path.join(dataDir, 'Property.json'), JSON.stringify(feed.property));
    fs.writeFileSync(path.join(dataDir, 'Media.json'), JSON.stringify(feed.media));
  };
  write();
  // DD 2.0 declares Property.Media without a referential constraint (RESO joins Media by
  // ResourceRecordKey); the mock server takes the join from this contributor file.
  fs.writeFileSync(path.join(dataDir, 'Property.js'), `module.exports = {
  getReferentialConstraints(nav) {
    return nav.name === 'Media' ? [{ sourceProperty: 'ListingKey', targetProperty: 'ResourceRecordKey' }] : undefined;
  },
};
`);
  let mock = await startMock(dataDir, 0);
  const url = `http://127.0.0.1:${mock.port}/odata`;
  try {
    const indexDb = path.join(tmp, 'index.db'), feedDb = path.join(tmp, 'feed.db');
    await homelens(['index', '--quiet', '--no-heads', '--db', indexDb, '--manifest', path.join(tmp, 'manifest.csv'),
              '--base-dir', houses, '--col', 'listing=house_id', '--col', 'price=price_usd', '--col', 'beds=bedrooms',
              '--col', 'baths=bathrooms', '--col', 'area=area_sqft', '--col', 'zip=zipcode']);
    const first = JSON.parse(await homelens(['import', 'reso', '--json', '--db', feedDb, '--url', url]));
    assert.equal(first.media, 'navigation');
    assert.equal(first.seen, ids.length);
    assert.equal(first.added, ids.length);
    assert.equal(first.photos_downloaded, subset.length);
    assert.equal(first.photos_failed, 0, JSON.stringify(first.problems));
    assert.equal(first.high_water, stamp(ids.length - 1));
    assert.equal(listingRows(feedDb), listingRows(indexDb));
    assert.equal(imageRows(feedDb), imageRows(indexDb));

    // The change set, each with a newer ModificationTimestamp.
    // Two photos of the last house, added to two other listings.
    const extra = subset.filter((r) => r.house_id === ids[ids.length - 1]).slice(0, 2);
    const byKey = new Map(feed.property.map((p) => [p.ListingKey, p]));
    const touch = (key, n) => { byKey.get(key).ModificationTimestamp = stamp(1000 + n); };
    for (let i = 0; i < 3; ++i) { byKey.get(ids[i]).ListPrice += 1000 * (i + 1); touch(ids[i], i); }
    extra.forEach((r, i) => {
      feed.media.push({ MediaKey: `added_${i}`, ResourceRecordKey: ids[3 + i], ResourceName: 'Property',
                        MediaURL: `${photoBase}/${r.path}`, Order: 9, MediaCategory: 'Photo', PreferredPhotoYN: false,
                        MediaModificationTimestamp: stamp(900) });
      touch(ids[3 + i], 3 + i);
    });
    const removed = feed.media.findIndex((m) => m.ResourceRecordKey === ids[5] && m.Order === 1);
    feed.media.splice(removed, 1);
    touch(ids[5], 5);
    byKey.get(ids[6]).StandardStatus = 'Withdrawn';
    touch(ids[6], 6);
    write();
    await stop(mock);
    mock = await startMock(dataDir, mock.port);  // the same URL: the stored mark applies

    const second = JSON.parse(await homelens(['import', 'reso', '--json', '--db', feedDb, '--url', url]));
    assert.equal(second.since, stamp(ids.length - 1));
    assert.equal(second.seen, 7);
    assert.equal(second.changed, 6);
    assert.equal(second.removed, 1);
    assert.equal(second.photos_downloaded, 2);
    assert.equal(second.photos_removed, 1);
    assert.equal(second.photos_failed, 0);

    // Exactly the feed now: every active listing with its attributes and photos.
    const active = feed.property.filter((p) => p.StandardStatus === 'Active').sort((a, b) => (a.ListingKey < b.ListingKey ? -1 : 1));
    const fmt = (v) => sql(':memory:', `SELECT CAST(${v} AS REAL)`);
    const expectListings = active.map((p) => {
      const baths = p.BathroomsFull + 0.75 * p.BathroomsThreeQuarter + 0.5 * p.BathroomsHalf + 0.25 * p.BathroomsOneQuarter;
      return [p.ListingKey, fmt(p.ListPrice), fmt(p.BedroomsTotal), fmt(baths), fmt(p.LivingArea), p.PostalCode].join('|');
    }).join('\n');
    assert.equal(listingRows(feedDb), expectListings);
    const activeKeys = new Set(active.map((p) => p.ListingKey));
    const expectImages = feed.media.filter((m) => activeKeys.has(m.ResourceRecordKey))
      .map((m) => `${m.ResourceRecordKey}|${sha(path.join(houses, new URL(m.MediaURL).pathname))}`).sort().join('\n');
    const gotImages = sql(feedDb, 'SELECT listing_id, sha256 FROM images').split('\n').sort().join('\n');
    assert.equal(gotImages, expectImages);
  } finally {
    await stop(mock);
    photos.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
