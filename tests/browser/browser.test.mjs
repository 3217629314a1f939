// The web page in a real browser: Debian's headless chromium driven by playwright-core.
// Starts `homelens serve` on a small index of the shared houses, then browses like a
// person: the grid, a filter, the next page, "homes like this" with score breakdowns,
// and a photo upload. Screenshots land in $HOMELENS_ARTIFACTS.
//
//   HOMELENS_BIN        the homelens binary       (default <repo>/build/homelens)
//   HOMELENS_SHARED     the shared data + models  (default <repo>/../shared)
//   HOMELENS_ARTIFACTS  where screenshots go      (default <repo>/build/artifacts)
//   HOMELENS_CHROMIUM   the browser               (default /usr/bin/chromium)
//
// Run: tests/browser/run   (or: cd tests/browser && npm ci && node --test browser.test.mjs)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const BIN = path.resolve(process.env.HOMELENS_BIN || path.join(repo, 'build', 'homelens'));
const SHARED = path.resolve(process.env.HOMELENS_SHARED || path.join(repo, '..', 'shared'));
const ARTIFACTS = path.resolve(process.env.HOMELENS_ARTIFACTS || path.join(repo, 'build', 'artifacts'));
const CHROMIUM = process.env.HOMELENS_CHROMIUM || '/usr/bin/chromium';
const WEB_DIR = path.join(repo, 'web');
const HOUSES = path.join(SHARED, 'data', 'houses_dataset');
const UPLOAD = path.join(HOUSES, 'images', '59_frontal.jpg');
const MODELS = path.join(SHARED, 'models');

// Houses 1..60 plus 72 (a near twin of 59): 61 listings, 244 photos, three pages of 24.
const KEEP = (id) => (id >= 1 && id <= 60) || id === 72;

let tmp;
let heads;        // the tag heads the index and the server use
let server;       // the child process
let baseUrl;
let browser;
let page;
const serverLog = [];
const pageErrors = [];   // script errors and console errors other than failed requests
const badResponses = []; // HTTP 4xx/5xx the page got

function log(...a) { console.log('#', ...a); }

// The rows of a shared houses CSV whose house is kept, into tmp/NAME (the first column of the
// manifest is a path relative to the houses folder, made absolute so `train` finds the photos).
function subsetCsv(file, name, absolutePaths) {
  const lines = fs.readFileSync(path.join(HOUSES, file), 'utf8').split(/\r?\n/).filter(Boolean);
  const header = lines[0].split(',');
  const col = header.indexOf('house_id');
  assert.ok(col >= 0, `${file} has a house_id column`);
  let rows = lines.slice(1).filter((l) => KEEP(Number(l.split(',')[col])));
  if (absolutePaths) {
    assert.equal(header[0], 'path', `${file} starts with the path column`);
    rows = rows.map((l) => path.join(HOUSES, l.slice(0, l.indexOf(','))) + l.slice(l.indexOf(',')));
  }
  const out = path.join(tmp, name);
  fs.writeFileSync(out, [lines[0], ...rows].join('\n') + '\n');
  return { csv: out, rows: rows.length };
}

function run(args, what) {
  const r = spawnSync(BIN, [...args, '--models-dir', MODELS], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `homelens ${what} failed:\n${r.stdout}\n${r.stderr}`);
}

function startServer(db) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['serve', '--db', db, '--port', '0', '--web-dir', WEB_DIR, '--models-dir', MODELS,
      '--heads', heads],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;  // stopped by after() whatever happens next
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start in 60 s:\n${serverLog.join('')}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      serverLog.push(String(d));
      const m = out.match(/on (http:\/\/127\.0\.0\.1:(\d+)\/)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.stderr.on('data', (d) => serverLog.push(String(d)));
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? sig}) before it listened:\n${serverLog.join('')}`));
    });
  });
}

// Last resort if the runner exits without running after(): never leave a server behind.
process.on('exit', () => { if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL'); });

function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => server.kill('SIGKILL'), 5000);
    server.once('exit', () => { clearTimeout(kill); resolve(); });
    server.kill('SIGTERM');
  });
}

async function shot(name) {
  const file = path.join(ARTIFACTS, `browser_${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  log('screenshot', file);
  return file;
}

const num = (s) => Number(String(s).replace(/[^0-9.\-]/g, ''));

// Reads the similar-listing cards the panel shows: score and the three weighted parts.
async function readSimilarCards() {
  return page.$$eval('[data-testid="similar-card"]', (cards) => cards.map((c) => {
    const part = (k) => c.querySelector(`[data-testid="breakdown-${k}"] [data-testid="breakdown-value"]`)?.textContent ?? null;
    return {
      listing: c.dataset.listingId,
      score: c.querySelector('[data-testid="similar-score"]')?.textContent ?? null,
      cls: part('class'), tag: part('tag'), visual: part('visual'),
      price: c.querySelector('[data-testid="similar-price"]')?.textContent ?? '',
      imgLoaded: (() => { const i = c.querySelector('img'); return !!i && i.complete && i.naturalWidth > 0; })(),
    };
  }));
}

function assertBreakdownsAddUp(cards) {
  assert.ok(cards.length > 0, 'similar listings are shown');
  for (const c of cards) {
    assert.ok(c.score !== null && c.cls !== null && c.tag !== null && c.visual !== null,
      `listing ${c.listing} shows a score and its three parts`);
    const sum = num(c.cls) + num(c.tag) + num(c.visual);
    assert.ok(Math.abs(sum - num(c.score)) <= 0.021,
      `listing ${c.listing}: class ${c.cls} + tag ${c.tag} + visual ${c.visual} = ${sum.toFixed(3)}, shown score ${c.score}`);
    assert.match(c.price, /^\$[\d,]+$|Price on request/, `listing ${c.listing} shows a price`);
  }
}

async function waitForPanelResults() {
  await page.waitForFunction(() => {
    const p = document.querySelector('[data-testid="similar-panel"]');
    const err = document.querySelector('[data-testid="panel-error"]');
    return p?.open && p.getAttribute('aria-busy') === 'false' &&
      (document.querySelectorAll('[data-testid="similar-card"]').length > 0 || (err && !err.hidden));
  }, null, { timeout: 20_000 });
  const err = page.locator('[data-testid="panel-error"]');
  if (await err.isVisible()) assert.fail(`the panel shows an error: ${await err.textContent()}`);
  // Let the result photos finish loading before judging or screenshotting them.
  await page.waitForFunction(() => Array.from(document.querySelectorAll('[data-testid="similar-card"] img'))
    .slice(0, 4).every((i) => i.complete), null, { timeout: 10_000 }).catch(() => {});
}

async function gridState() {
  return page.evaluate(() => ({
    total: document.querySelector('[data-testid="result-total"]').textContent,
    status: document.querySelector('[data-testid="page-status"]').textContent,
    ids: Array.from(document.querySelectorAll('[data-testid="listing-card"]')).map((c) => c.dataset.listingId),
    prices: Array.from(document.querySelectorAll('[data-testid="listing-price"]')).map((p) => p.textContent),
  }));
}

async function waitGridSettled() {
  await page.waitForFunction(() => document.querySelector('[data-testid="listing-grid"]').getAttribute('aria-busy') === 'false',
    null, { timeout: 15_000 });
}

describe('HomeLens web page', { timeout: 110_000 }, () => {
  before(async () => {
    for (const [what, p] of [['homelens binary (HOMELENS_BIN)', BIN], ['shared houses (HOMELENS_SHARED)', HOUSES],
      ['chromium (HOMELENS_CHROMIUM)', CHROMIUM], ['web folder', path.join(WEB_DIR, 'index.html')]])
      assert.ok(fs.existsSync(p), `${what} not found: ${p}`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'homelens-web-'));
    const { csv: manifest, rows: photos } = subsetCsv('manifest.csv', 'subset.csv', true);
    const { csv: labels } = subsetCsv('labels_train.csv', 'labels.csv', false);
    const db = path.join(tmp, 'web.db');
    const cols = ['--col', 'listing=house_id', '--col', 'price=price_usd', '--col', 'beds=bedrooms',
      '--col', 'baths=bathrooms', '--col', 'area=area_sqft', '--col', 'zip=zipcode', '--col', 'extra=room_type'];
    const t0 = Date.now();
    run(['index', '--quiet', '--no-heads', '--db', db, '--manifest', manifest, ...cols], 'index');
    log(`indexed ${photos} photos in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Tag heads (with their domain model) from the labeled houses of the subset, the index as the
    // embedding cache; a second index run tags the stored photos.
    heads = path.join(tmp, 'heads');
    run(['train', '--quiet', '--db', db, '--heads', heads, '--manifest', manifest, '--labels', labels,
      '--task', 'front', '--task', 'room', '--task', 'style', '--task', 'stories', '--task', 'domain',
      '--folds', '0', '--l2', '1', '--domain-centroids', '8'], 'train');
    run(['index', '--quiet', '--db', db, '--manifest', manifest, '--heads', heads, ...cols], 'index --heads');
    log(`heads trained and photos tagged in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    baseUrl = await startServer(db);
    log('server', baseUrl);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => { if (r.status() >= 400) badResponses.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`); });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopServer();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows a grid of listing cards with prices', async () => {
    await page.goto(baseUrl);
    await page.waitForSelector('[data-testid="listing-card"]');
    await waitGridSettled();
    const g = await gridState();
    assert.equal(g.total, '61', 'all 61 listings of the subset are counted');
    assert.equal(g.ids.length, 24, 'a page holds 24 cards');
    assert.equal(g.status, '1–24 of 61');
    for (const p of g.prices) assert.match(p, /^\$\d{1,3}(,\d{3})+$/, 'prices are dollars');
    assert.ok(await page.isDisabled('[data-testid="page-prev"]'), 'no previous page on the first');
    // Title photos load.
    await page.waitForFunction(() => Array.from(document.querySelectorAll('[data-testid="listing-card"] img'))
      .slice(0, 8).every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 15_000 });
    await shot('grid');
  });

  it('pages forward and back', async () => {
    await page.click('[data-testid="page-next"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="page-status"]').textContent === '25–48 of 61');
    await waitGridSettled();
    const g = await gridState();
    assert.equal(g.ids.length, 24);
    assert.equal(g.ids[0], '25', 'page 2 starts at listing 25 (listings are in id order)');
    assert.ok(!(await page.isDisabled('[data-testid="page-prev"]')));
    await page.click('[data-testid="page-next"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="page-status"]').textContent === '49–61 of 61');
    assert.ok(await page.isDisabled('[data-testid="page-next"]'), 'no next page on the last');
    await page.click('[data-testid="page-prev"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="page-status"]').textContent === '25–48 of 61');
  });

  it('applies filters and the total changes', async () => {
    await page.fill('[data-testid="filter-price-max"]', '500000');
    await page.selectOption('[data-testid="filter-beds-min"]', '3');
    await page.click('[data-testid="filter-apply"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="result-total"]').textContent !== '61');
    await waitGridSettled();
    const g = await gridState();
    const total = Number(g.total);
    assert.ok(total > 0 && total < 61, `the filter narrows the grid (total ${g.total})`);
    assert.match(g.status, new RegExp(`^1–${Math.min(total, 24)} of ${total}$`), 'filtering goes back to page 1');
    for (const p of g.prices) assert.ok(num(p) <= 500000, `price ${p} is within the filter`);
    // The server agrees with what the page shows.
    const api = await page.evaluate(() => fetch('/v1/listings?price_max=500000&beds_min=3').then((r) => r.json()));
    assert.equal(api.total, total);
    assert.ok(page.url().includes('price_max=500000'), 'the filters are kept in the address');
    await shot('grid_filtered');
    await page.click('[data-testid="filter-reset"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="result-total"]').textContent === '61');
    await waitGridSettled();
  });

  it('clicking a listing shows similar listings with score breakdowns', async () => {
    const card = page.locator('[data-testid="listing-card"][data-listing-id="59"]');
    if (!(await card.count())) {  // 59 is on page 3 of the unfiltered grid
      await page.click('[data-testid="page-next"]');
      await page.click('[data-testid="page-next"]');
      await page.waitForFunction(() => document.querySelector('[data-testid="page-status"]').textContent === '49–61 of 61');
    }
    await card.locator('[data-testid="listing-photo"]').click();
    await waitForPanelResults();
    const cards = await readSimilarCards();
    assert.equal(cards.length, 12, 'k = 12 similar listings');
    assert.ok(!cards.some((c) => c.listing === '59'), 'the query listing itself is left out');
    assertBreakdownsAddUp(cards);
    const scores = cards.map((c) => num(c.score));
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i] <= scores[i - 1] + 1e-9, 'best first');
    assert.ok(cards.slice(0, 4).every((c) => c.imgLoaded), 'the result photos load');
    assert.match(await page.textContent('[data-testid="similar-took"]'), /\d+(\.\d+)? ms/, 'the query time is shown');
    assert.match(await page.textContent('[data-testid="similar-weights"]'), /class × .*tags × .*visual ×/);
    // The query listing's own photos, to query by one of them.
    await page.waitForSelector('[data-testid="query-photo-option"]');
    assert.equal(await page.locator('[data-testid="query-photo-option"]').count(), 4, 'listing 59 has four photos');
    await shot('similar');
  });

  it('queries by another photo of the listing', async () => {
    const option = page.locator('[data-testid="query-photo-option"][aria-pressed="false"]').first();
    const url = await option.locator('img').getAttribute('src');
    await option.click();
    await page.waitForFunction((u) => {
      const q = document.querySelector('[data-testid="similar-query"] .query-photo');
      return q && q.getAttribute('src') === u &&
        document.querySelector('[data-testid="similar-panel"]').getAttribute('aria-busy') === 'false';
    }, url);
    await waitForPanelResults();
    const pressed = await page.locator('[data-testid="query-photo-option"][aria-pressed="true"] img').getAttribute('src');
    assert.equal(pressed, url, 'the chosen photo is marked as the query');
    assertBreakdownsAddUp(await readSimilarCards());
    await page.click('[data-testid="similar-close"]');
    await page.waitForFunction(() => !document.querySelector('[data-testid="similar-panel"]').open);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset?.testid), 'listing-photo',
      'closing the panel gives focus back to the photo that opened it');
  });

  it('uploading a photo shows similar listings', async () => {
    await page.setInputFiles('[data-testid="upload-input"]', UPLOAD);
    await page.waitForSelector('[data-testid="upload-preview"]');
    await waitForPanelResults();
    const cards = await readSimilarCards();
    assert.ok(cards.length > 0, 'results appear for the upload');
    assert.ok(['59', '72'].includes(cards[0].listing), `listing 59 or 72 is first, got ${cards[0].listing}`);
    assertBreakdownsAddUp(cards);
    const preview = await page.$eval('[data-testid="upload-preview"]', (i) => i.complete && i.naturalWidth > 0);
    assert.ok(preview, 'the uploaded photo is previewed');
    assert.match(await page.textContent('[data-testid="similar-query"]'), /59_frontal\.jpg/);
    await shot('upload');
  });

  it('a photo that is not a house ranks by how it looks and says so', async () => {
    // A flower from Wang Corel-1k: the heads' domain model leaves it untagged, so no listing gets
    // a class or tag part for it (the heads alone would call many such photos house fronts).
    await page.setInputFiles('[data-testid="upload-input"]', path.join(SHARED, 'data', 'wang_corel1k', 'images', '600.jpg'));
    await page.waitForFunction(() => /600\.jpg/.test(document.querySelector('[data-testid="similar-query"]')?.textContent ?? ''));
    await waitForPanelResults();
    const cards = await readSimilarCards();
    assert.ok(cards.length > 0, 'results appear for the upload');
    assertBreakdownsAddUp(cards);
    for (const c of cards) {
      assert.equal(num(c.cls), 0, `listing ${c.listing}: no class part for a photo that is not a house`);
      assert.equal(num(c.tag), 0, `listing ${c.listing}: no tag part for a photo that is not a house`);
    }
    assert.match(await page.textContent('[data-testid="not-house-note"]'), /does not look like the house photos.*compared together with its nearest indexed photos/);
    assert.match(await page.textContent('[data-testid="similar-query"]'), /Not a house photo/);
    await shot('upload_not_a_house');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('[data-testid="similar-panel"]').open);
  });

  it('shows API errors to the user', async () => {
    await page.setInputFiles('[data-testid="upload-input"]', {
      name: 'not-a-photo.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('this is not a jpeg'),
    });
    const err = page.locator('[data-testid="panel-error"]');
    await err.waitFor({ state: 'visible' });
    assert.ok((await err.textContent()).trim().length > 0, 'the server message is shown');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('[data-testid="similar-panel"]').open);
  });

  it('had no script errors and no failed requests but the bad upload', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(badResponses, ['415 POST /v1/recommend']);
  });
});
