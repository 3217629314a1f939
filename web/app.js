// HomeLens web page: the listings grid with filters and paging, and the
// "Homes like this" panel (by listing, by one of its photos, or by an upload).
// Plain ES module, no build step: it talks to the JSON API of the same server.

const PAGE_SIZE = 24;
const K = 12;
const FILTER_KEYS = ['price_min', 'price_max', 'beds_min', 'baths_min', 'zip_prefix'];
const NUMERIC_FILTERS = new Set(['price_min', 'price_max', 'beds_min', 'baths_min']);

const $ = (sel, root = document) => root.querySelector(sel);

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 0 });
const count = new Intl.NumberFormat('en-US');

const state = {
  offset: 0,
  total: 0,
  filters: {},        // name -> value (numbers for numeric filters, string for zip_prefix)
  listSeq: 0,         // drops out-of-order grid responses
  querySeq: 0,        // drops out-of-order panel responses
  lastOpener: null,   // element to give focus back to when the panel closes
  uploadUrl: null,    // object URL of the uploaded photo preview
};

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(path, { headers: { Accept: 'application/json' }, ...options });
  } catch (e) {
    throw new ApiError(0, 'network', 'Cannot reach the HomeLens server. Is it running?');
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!res.ok) {
    const err = body && body.error;
    throw new ApiError(res.status, err?.code ?? 'http_' + res.status,
      err?.message ?? `The server answered ${res.status} ${res.statusText}`.trim());
  }
  return body;
}

// ---------- formatting ----------

function fmtPrice(p) { return p == null ? 'Price on request' : money.format(p); }
function fmtNum(n) { return n == null ? '–' : (Number.isInteger(n) ? String(n) : n.toFixed(1)); }
function plural(n, one, many) { return n == null ? `– ${many}` : `${fmtNum(n)} ${n === 1 ? one : many}`; }
function fmt2(x) { return (Math.round(x * 100) / 100).toFixed(2); }
function titleCase(s) { return String(s).replace(/[_-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase()); }

function describe(l) {
  const parts = [];
  if (l.beds != null) parts.push(plural(l.beds, 'bed', 'beds'));
  if (l.baths != null) parts.push(plural(l.baths, 'bath', 'baths'));
  const where = l.zip ? ` in ${l.zip}` : '';
  return `${parts.join(', ')} home${where}, ${fmtPrice(l.price)}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) node.append(c);
  return node;
}

function facts(l) {
  return el('ul', { class: 'facts' },
    el('li', {}, el('strong', { text: fmtNum(l.beds) }), ' bd'),
    el('li', {}, el('strong', { text: fmtNum(l.baths) }), ' ba'),
    l.area != null ? el('li', {}, el('strong', { text: count.format(l.area) }), ' sqft') : null);
}

// Heads with a domain model leave a photo unlike every house photo they learned from untagged:
// front 0 and no room, style or stories (docs/eval.md).
function outsideHeads(tags) {
  return !!tags && tags.front === 0 && !tags.room && !tags.style && !tags.stories;
}

function tagChips(tags, { withRoom = true } = {}) {
  if (!tags) return null;
  if (outsideHeads(tags)) {
    return el('ul', { class: 'chips', 'data-testid': 'tags', 'aria-label': 'Photo tags' },
      el('li', { class: 'chip', text: 'Not a house photo' }));
  }
  const chips = [];
  if (tags.style) chips.push(el('li', { class: 'chip chip-style', text: titleCase(tags.style) }));
  if (tags.stories) chips.push(el('li', { class: 'chip chip-stories', text: titleCase(tags.stories) }));
  if (withRoom && tags.room) chips.push(el('li', { class: 'chip chip-room', text: titleCase(tags.room) }));
  if (typeof tags.front === 'number' && !tags.room)
    chips.push(el('li', { class: 'chip', text: tags.front >= 0.5 ? 'Exterior' : 'Interior' }));
  return chips.length ? el('ul', { class: 'chips', 'data-testid': 'tags', 'aria-label': 'Photo tags' }, chips) : null;
}

function photo(url, alt, cls = '') {
  if (!url) return el('div', { class: `photo photo-missing ${cls}`, role: 'img', 'aria-label': 'No photo' }, 'No photo');
  const img = el('img', { class: `photo ${cls}`, src: url, alt, loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => img.classList.add('photo-broken'), { once: true });
  return img;
}

// ---------- errors ----------

function showError(err, where = $('main .error-banner')) {
  where.hidden = false;
  $('.error-text', where).textContent = err instanceof ApiError || err instanceof Error ? err.message : String(err);
}
function clearError(where = $('main .error-banner')) { where.hidden = true; }

// ---------- filters & URL ----------

function readFiltersFromForm() {
  const form = $('#filters');
  const out = {};
  for (const key of FILTER_KEYS) {
    const raw = form.elements[key].value.trim();
    if (raw === '') continue;
    out[key] = NUMERIC_FILTERS.has(key) ? Number(raw) : raw;
  }
  return out;
}

function writeFiltersToForm(filters) {
  const form = $('#filters');
  for (const key of FILTER_KEYS) form.elements[key].value = filters[key] ?? '';
}

function validateFilters(f) {
  for (const key of NUMERIC_FILTERS) {
    if (key in f && !Number.isFinite(f[key])) return `${key.replace('_', ' ')} must be a number`;
  }
  if (f.price_min != null && f.price_max != null && f.price_min > f.price_max)
    return 'The minimum price is above the maximum price.';
  return null;
}

function syncUrl() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filters)) p.set(k, v);
  if (state.offset) p.set('offset', state.offset);
  const qs = p.toString();
  history.replaceState(null, '', qs ? `?${qs}` : location.pathname);
}

function readUrl() {
  const p = new URLSearchParams(location.search);
  const f = {};
  for (const key of FILTER_KEYS) {
    if (!p.has(key) || p.get(key) === '') continue;
    f[key] = NUMERIC_FILTERS.has(key) ? Number(p.get(key)) : p.get(key);
  }
  state.filters = validateFilters(f) ? {} : f;
  state.offset = Math.max(0, Math.floor(Number(p.get('offset')) || 0));
  writeFiltersToForm(state.filters);
}

// ---------- the grid ----------

function listingCard(l) {
  const label = `Show homes like listing ${l.id}`;
  return el('li', { class: 'card', 'data-testid': 'listing-card', dataset: { listingId: l.id } },
    el('button', {
      type: 'button', class: 'card-photo', 'data-testid': 'listing-photo', 'aria-label': label, title: 'Find homes like this',
      onclick: (e) => openSimilar({ listing_id: String(l.id) }, e.currentTarget, l),
    },
    photo(l.title_image_url, `Photo of a ${describe(l)}`),
    el('span', { class: 'card-cta', 'aria-hidden': 'true' }, 'Homes like this →'),
    l.photo_count > 1 ? el('span', { class: 'badge', 'aria-hidden': 'true', text: `${l.photo_count} photos` }) : null),
    el('div', { class: 'card-body' },
      el('p', { class: 'price', 'data-testid': 'listing-price', text: fmtPrice(l.price) }),
      facts(l),
      el('p', { class: 'meta' },
        el('span', { class: 'zip', text: l.zip ? `ZIP ${l.zip}` : 'ZIP unknown' }),
        el('span', { class: 'listing-id', text: `#${l.id}` })),
      tagChips(l.title_tags, { withRoom: false })));
}

function skeletonCards(n) {
  return Array.from({ length: n }, () => el('li', { class: 'card card-skeleton', 'aria-hidden': 'true' },
    el('div', { class: 'photo' }), el('div', { class: 'card-body' }, el('p', { class: 'sk sk-wide' }), el('p', { class: 'sk' }))));
}

async function loadListings() {
  const seq = ++state.listSeq;
  const grid = $('#grid');
  grid.setAttribute('aria-busy', 'true');
  if (!grid.children.length) grid.replaceChildren(...skeletonCards(8));
  grid.classList.add('loading');
  const p = new URLSearchParams({ offset: state.offset, limit: PAGE_SIZE });
  for (const [k, v] of Object.entries(state.filters)) p.set(k, v);
  try {
    const data = await api(`/v1/listings?${p}`);
    if (seq !== state.listSeq) return;
    clearError();
    state.total = data.total;
    // A page past the end (after a filter shrank the set): go back to the last page.
    if (data.listings.length === 0 && data.total > 0 && state.offset > 0) {
      state.offset = Math.floor((data.total - 1) / PAGE_SIZE) * PAGE_SIZE;
      return loadListings();
    }
    renderGrid(data);
  } catch (err) {
    if (seq !== state.listSeq) return;
    grid.replaceChildren();
    showError(err);
    $('#result-total').textContent = '0';
    $('#page-status').textContent = '';
  } finally {
    if (seq === state.listSeq) {
      grid.classList.remove('loading');
      grid.setAttribute('aria-busy', 'false');
    }
  }
  syncUrl();
}

function renderGrid(data) {
  const grid = $('#grid');
  const { total, offset, listings } = data;
  if (!listings.length) {
    grid.replaceChildren(el('li', { class: 'empty', 'data-testid': 'grid-empty' },
      el('p', { class: 'empty-title', text: 'No homes match these filters.' }),
      el('button', { type: 'button', class: 'btn btn-secondary', onclick: resetFilters }, 'Clear filters')));
  } else {
    grid.replaceChildren(...listings.map(listingCard));
  }
  const first = listings.length ? offset + 1 : 0;
  const last = offset + listings.length;
  const range = `${count.format(first)}–${count.format(last)} of ${count.format(total)}`;
  $('#result-total').textContent = count.format(total);
  $('#page-status').textContent = range;
  $('[data-testid="page-status-top"]').textContent = total ? `Showing ${range}` : '';
  document.querySelector('.pager').hidden = total === 0;
  $('#page-prev').disabled = offset <= 0;
  $('#page-next').disabled = last >= total;
}

function applyFilters(e) {
  e?.preventDefault();
  const f = readFiltersFromForm();
  const problem = validateFilters(f);
  if (problem) return showError(new Error(problem));
  state.filters = f;
  state.offset = 0;
  loadListings().then(revealResults);
}

function resetFilters() {
  writeFiltersToForm({});
  state.filters = {};
  state.offset = 0;
  loadListings().then(revealResults);
}

// Brings the results heading into view when it has scrolled under the sticky filter bar.
function revealResults() {
  const bar = document.querySelector('.results-bar');
  const filters = $('#filters').getBoundingClientRect();
  if (bar.getBoundingClientRect().top < filters.bottom) bar.scrollIntoView({ block: 'start' });
}

function page(delta) {
  const next = state.offset + delta * PAGE_SIZE;
  if (next < 0 || next >= state.total) return;
  state.offset = next;
  loadListings().then(revealResults);
}

// ---------- the "Homes like this" panel ----------

function openPanel(opener) {
  const dlg = $('#similar-panel');
  state.lastOpener = opener ?? document.activeElement;
  if (!dlg.open) dlg.showModal();
  dlg.scrollTop = 0;
  $('.panel-inner', dlg).scrollTop = 0;
}

function closePanel() {
  const dlg = $('#similar-panel');
  if (dlg.open) dlg.close();
}

function panelLoading(text) {
  $('#similar-panel').setAttribute('aria-busy', 'true');
  $('[data-testid="similar-meta"]').textContent = text;
  $('[data-testid="similar-results"]').replaceChildren(...Array.from({ length: 4 }, () =>
    el('li', { class: 'sim-card sim-skeleton', 'aria-hidden': 'true' }, el('div', { class: 'photo' }), el('div', { class: 'sim-body' }, el('p', { class: 'sk sk-wide' }), el('p', { class: 'sk' })))));
  clearError($('[data-testid="panel-error"]'));
}

function currentFilters() {
  return { ...state.filters };
}

// query: {listing_id} or {image_id}; listingHint: what the grid already knows about it.
async function openSimilar(query, opener, listingHint) {
  openPanel(opener);
  const seq = ++state.querySeq;
  const listingId = query.listing_id ?? listingHint?.id;
  renderQueryListing(listingHint ?? null, query.image_id ?? listingHint?.title_image_id ?? null);
  panelLoading('Finding similar homes…');
  const body = { query, k: K, filters: currentFilters() };
  const [rec, listing] = await Promise.allSettled([
    api('/v1/recommend', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) }),
    listingId != null ? api(`/v1/listings/${encodeURIComponent(listingId)}`) : Promise.resolve(null),
  ]);
  if (seq !== state.querySeq) return;
  const queryImage = rec.status === 'fulfilled' ? rec.value.query.image_id : (query.image_id ?? null);
  if (listing.status === 'fulfilled' && listing.value) renderQueryListing(listing.value, queryImage);
  else if (rec.status === 'fulfilled' && !listingHint) renderQueryListing({ id: rec.value.query.listing_id }, queryImage);
  if (rec.status === 'fulfilled') renderResults(rec.value);
  else showPanelError(rec.reason);
}

function showPanelError(err) {
  $('#similar-panel').setAttribute('aria-busy', 'false');
  $('[data-testid="similar-results"]').replaceChildren();
  $('[data-testid="similar-meta"]').textContent = '';
  showError(err, $('[data-testid="panel-error"]'));
}

function renderQueryListing(l, selectedImageId) {
  const box = $('[data-testid="similar-query"]');
  $('#panel-title').textContent = 'Homes like this';
  if (!l) { box.replaceChildren(); return; }
  const images = Array.isArray(l.images) ? l.images : [];
  const selected = images.find((im) => im.image_id === selectedImageId)
    ?? (l.title_image_url ? { image_url: l.title_image_url, image_id: l.title_image_id, tags: l.title_tags } : null)
    ?? images[0];
  const hasAttrs = l.price !== undefined;
  box.replaceChildren(
    el('figure', { class: 'query-figure' },
      photo(selected?.image_url, hasAttrs ? `Query photo: ${describe(l)}` : 'Query photo', 'query-photo'),
      el('figcaption', {},
        el('span', { class: 'eyebrow', text: `Listing #${l.id}` }),
        hasAttrs ? el('p', { class: 'price', text: fmtPrice(l.price) }) : null,
        hasAttrs ? facts(l) : null,
        l.zip ? el('p', { class: 'meta', text: `ZIP ${l.zip}` }) : null,
        tagChips(selected?.tags))),
    images.length > 1 ? el('div', { class: 'query-photos' },
      el('p', { class: 'query-photos-label', id: 'qp-label', text: 'Compare by a different photo of this home:' }),
      el('ul', { class: 'thumbs', 'data-testid': 'query-photos', 'aria-labelledby': 'qp-label' },
        images.map((im, i) => el('li', {},
          el('button', {
            type: 'button', class: 'thumb', 'data-testid': 'query-photo-option',
            'aria-pressed': String(im.image_id === selected?.image_id),
            'aria-label': `Use photo ${i + 1}${im.tags?.room ? ` (${im.tags.room})` : ''} as the query`,
            onclick: (e) => openSimilar({ image_id: im.image_id }, state.lastOpener, l),
          }, photo(im.image_url, ''), im.tags?.room ? el('span', { class: 'thumb-label', text: titleCase(im.tags.room) }) : null))))) : null);
}

function renderUploadQuery(file, url, tags) {
  const box = $('[data-testid="similar-query"]');
  $('#panel-title').textContent = 'Homes like your photo';
  box.replaceChildren(
    el('figure', { class: 'query-figure' },
      el('img', { class: 'photo query-photo', src: url, alt: `Your photo: ${file.name}`, 'data-testid': 'upload-preview' }),
      el('figcaption', {},
        el('span', { class: 'eyebrow', text: 'Your photo' }),
        el('p', { class: 'upload-name', text: file.name }),
        el('p', { class: 'meta', text: `${(file.size / 1024).toFixed(0)} KB` }),
        tagChips(tags))));
}

function breakdownView(r, weights) {
  const parts = [
    { key: 'class', label: 'Class', hint: 'both photos show the same kind of view (e.g. house fronts)' },
    { key: 'tag', label: 'Tags', hint: 'same style and stories' },
    { key: 'visual', label: 'Visual', hint: 'how alike the photos look' },
  ];
  const maxScore = Math.max(1e-9, weights.class + weights.tag + weights.visual);
  const rows = parts.map((p) => {
    const raw = r.breakdown[p.key] ?? 0;
    const w = weights[p.key] ?? 0;
    const contrib = raw * w;
    return { ...p, raw, w, contrib };
  });
  const bar = el('div', { class: 'stack', 'aria-hidden': 'true' },
    rows.map((p) => el('span', { class: `seg seg-${p.key}`, style: `width:${Math.max(0, (p.contrib / maxScore) * 100).toFixed(2)}%` })));
  const list = el('dl', { class: 'breakdown-rows' },
    rows.map((p) => el('div', {
      class: `bd-row bd-${p.key}`, 'data-testid': `breakdown-${p.key}`,
      dataset: { raw: p.raw, weight: p.w, value: fmt2(p.contrib) }, title: `${p.label}: ${p.hint}`,
    },
    el('dt', {}, el('span', { class: `dot seg-${p.key}`, 'aria-hidden': 'true' }), p.label),
    el('dd', {},
      el('span', { class: 'bd-formula', text: `${fmt2(p.raw)} × ${fmtWeight(p.w)} =` }),
      el('span', { class: 'bd-value', 'data-testid': 'breakdown-value', text: fmt2(p.contrib) })))));
  return el('div', { class: 'breakdown', 'data-testid': 'breakdown' }, bar, list);
}

function fmtWeight(w) { return Number.isInteger(w) ? w.toFixed(1) : String(Math.round(w * 100) / 100); }

function similarCard(r, weights) {
  const l = { ...r.listing, id: r.listing_id };
  return el('li', { class: 'sim-card', 'data-testid': 'similar-card', dataset: { listingId: r.listing_id, imageId: r.image_id, score: r.score } },
    el('button', {
      type: 'button', class: 'sim-photo', 'aria-label': `Show homes like listing ${r.listing_id}`, title: 'Find homes like this one',
      onclick: (e) => openSimilar({ listing_id: String(r.listing_id) }, state.lastOpener, l),
    },
    photo(r.image_url, `Photo of a ${describe(l)}`),
    el('span', { class: 'rank', text: `#${r.rank}` })),
    el('div', { class: 'sim-body' },
      el('div', { class: 'sim-head' },
        el('div', {},
          el('p', { class: 'price', 'data-testid': 'similar-price', text: fmtPrice(l.price) }),
          facts(l),
          el('p', { class: 'meta' }, el('span', { text: l.zip ? `ZIP ${l.zip}` : 'ZIP unknown' }), el('span', { class: 'listing-id', text: `#${r.listing_id}` }))),
        el('div', { class: 'score', title: 'Similarity score' },
          el('span', { class: 'score-label', text: 'Score' }),
          el('span', { class: 'score-value', 'data-testid': 'similar-score', text: fmt2(r.score) }))),
      breakdownView(r, weights),
      tagChips(r.tags)));
}

function renderResults(data) {
  $('#similar-panel').setAttribute('aria-busy', 'false');
  const w = data.weights;
  const n = data.results.length;
  $('[data-testid="similar-meta"]').replaceChildren(
    el('span', {}, el('strong', { text: n ? `${n} similar home${n === 1 ? '' : 's'}` : 'No similar homes' }),
      ` from ${count.format(data.candidates)} candidate photo${data.candidates === 1 ? '' : 's'}`,
      Object.keys(state.filters).length ? ' (filters applied)' : ''),
    el('span', { class: 'took', 'data-testid': 'similar-took', text: `in ${data.took_ms.toFixed(1)} ms` }),
    el('span', { class: 'formula', 'data-testid': 'similar-weights' },
      'score = ', el('span', { class: 'dot seg-class', 'aria-hidden': 'true' }), `class × ${fmtWeight(w.class)} + `,
      el('span', { class: 'dot seg-tag', 'aria-hidden': 'true' }), `tags × ${fmtWeight(w.tag)} + `,
      el('span', { class: 'dot seg-visual', 'aria-hidden': 'true' }), `visual × ${fmtWeight(w.visual)}`));
  const qt = data.query.tags ?? {};
  if (qt.front == null && !qt.style && !qt.stories && (w.class || w.tag)) {
    $('[data-testid="similar-meta"]').append(el('p', { class: 'note', 'data-testid': 'no-tags-note',
      text: 'No photo tags in this index (the tag heads are not trained), so the class and tag parts are 0 and homes rank by how they look.' }));
  } else if (outsideHeads(qt) && (w.class || w.tag)) {
    $('[data-testid="similar-meta"]').append(el('p', { class: 'note', 'data-testid': 'not-house-note',
      text: 'This photo does not look like the house photos the tag heads learned from, so its class and tag parts are 0 and homes rank by how they look' +
        (data.query.expanded ? ' (compared together with its nearest indexed photos).' : '.') }));
  }
  const list = $('[data-testid="similar-results"]');
  if (!n) {
    list.replaceChildren(el('li', { class: 'empty', text: 'No listings match the current filters. Clear some filters and try again.' }));
  } else {
    list.replaceChildren(...data.results.map((r) => similarCard(r, w)));
  }
}

// ---------- upload ----------

async function searchByUpload(file, opener) {
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    openPanel(opener);
    renderUploadQuery(file, '', null);
    return showPanelError(new Error(`"${file.name}" is not an image.`));
  }
  if (state.uploadUrl) URL.revokeObjectURL(state.uploadUrl);
  state.uploadUrl = URL.createObjectURL(file);
  openPanel(opener);
  const seq = ++state.querySeq;
  renderUploadQuery(file, state.uploadUrl, null);
  panelLoading('Looking at your photo…');
  const form = new FormData();
  form.append('image', file, file.name);
  form.append('request', JSON.stringify({ k: K, filters: currentFilters() }));
  try {
    const data = await api('/v1/recommend', { method: 'POST', body: form });
    if (seq !== state.querySeq) return;
    renderUploadQuery(file, state.uploadUrl, data.query.tags);
    renderResults(data);
  } catch (err) {
    if (seq !== state.querySeq) return;
    showPanelError(err);
  }
}

function setupUpload() {
  const input = $('#upload-input');
  input.addEventListener('change', () => {
    const file = input.files[0];
    searchByUpload(file, $('#dropzone'));
    input.value = '';  // choosing the same file again searches again
  });
  // Keyboard: the label is focusable and opens the file chooser.
  const zone = $('#dropzone');
  zone.tabIndex = 0;
  zone.setAttribute('role', 'button');
  zone.setAttribute('aria-label', 'Upload a photo to find similar homes');
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
  });
  // Drag and drop anywhere on the page.
  const overlay = $('#drop-overlay');
  let depth = 0;
  const hasFiles = (e) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  window.addEventListener('dragenter', (e) => { if (!hasFiles(e)) return; e.preventDefault(); depth++; overlay.classList.add('show'); zone.classList.add('over'); });
  window.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  window.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; overlay.classList.remove('show'); zone.classList.remove('over'); } });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.classList.remove('show');
    zone.classList.remove('over');
    searchByUpload(e.dataTransfer.files[0], zone);
  });
}

// ---------- start ----------

async function loadStats() {
  try {
    const h = await api('/healthz');
    $('[data-testid="index-stats"]').textContent = `${count.format(h.listings)} homes · ${count.format(h.images)} photos`;
  } catch { /* the grid shows errors */ }
}

function init() {
  $('#filters').addEventListener('submit', applyFilters);
  $('#filters').addEventListener('reset', (e) => { e.preventDefault(); resetFilters(); });
  $('#page-prev').addEventListener('click', () => page(-1));
  $('#page-next').addEventListener('click', () => page(1));
  $('main .error-dismiss').addEventListener('click', () => clearError());
  const dlg = $('#similar-panel');
  $('.panel-close', dlg).addEventListener('click', closePanel);
  dlg.addEventListener('click', (e) => { if (e.target === dlg) closePanel(); });  // backdrop
  dlg.addEventListener('close', () => {
    state.querySeq++;
    const back = state.lastOpener;
    if (back && document.contains(back)) back.focus();
  });
  setupUpload();
  readUrl();
  loadStats();
  loadListings();
}

init();
