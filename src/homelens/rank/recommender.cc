#include "homelens/rank/recommender.h"

#include "homelens/index/ann_index.h"
#include "homelens/index/id_selector.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace homelens::rank {

bool Filters::matches(const store::Listing& l) const {
  auto within = [](const std::optional<double>& v, const std::optional<double>& lo,
                   const std::optional<double>& hi) {
    if (!lo && !hi) return true;
    if (!v) return false;
    return (!lo || *v >= *lo) && (!hi || *v <= *hi);
  };
  return within(l.price, price_min, price_max) && within(l.beds, beds_min, std::nullopt) &&
         within(l.baths, baths_min, std::nullopt) && within(l.area, area_min, area_max) &&
         (zip_prefix.empty() || l.zip.rfind(zip_prefix, 0) == 0);
}

bool Filters::empty() const {
  return !price_min && !price_max && !beds_min && !baths_min && !area_min && !area_max &&
         zip_prefix.empty();
}

Breakdown score_parts(const store::Tags& q, const store::Tags& c, float cosine,
                      const ScoreOptions& opt) {
  Breakdown b;
  b.visual = std::clamp((cosine + 1.0f) * 0.5f, 0.0f, 1.0f);
  if (q.front && c.front) {
    if (opt.soft_class) {
      b.cls = *q.front * *c.front;
    } else {
      b.cls = (*q.front >= opt.front_threshold && *c.front >= opt.front_threshold) ? 1.0f : 0.0f;
    }
  }
  int used = 0, same = 0;
  for (const std::string& t : opt.tags) {
    const std::string* a = nullptr;
    const std::string* b2 = nullptr;
    if (t == "style") a = &q.style, b2 = &c.style;
    else if (t == "stories") a = &q.stories, b2 = &c.stories;
    else if (t == "room") a = &q.room, b2 = &c.room;
    else continue;
    ++used;
    if (!a->empty() && *a == *b2) ++same;
  }
  b.tag = used ? static_cast<float>(same) / used : 0.0f;
  if (opt.tags_need_fronts) b.tag *= b.cls;
  return b;
}

float final_score(const Breakdown& b, const Weights& w) {
  return static_cast<float>(w.cls * b.cls + w.tag * b.tag + w.visual * b.visual);
}

namespace {

// The query's side of score_parts in catalogue tag codes, and which tags count.
struct CodedQuery {
  bool has_front = false;
  float front = 0;
  std::uint8_t style = 0, stories = 0, room = 0;
  int used = 0;                            // tag names in the request, as score_parts counts them
  int n_style = 0, n_stories = 0, n_room = 0;  // times each is named
};

CodedQuery code_query(const Catalog& catalog, const QueryPhoto& q, const ScoreOptions& opt) {
  CodedQuery c;
  c.has_front = q.tags.front.has_value();
  c.front = q.tags.front.value_or(0.0f);
  c.style = catalog.tag_code(q.tags.style);
  c.stories = catalog.tag_code(q.tags.stories);
  c.room = catalog.tag_code(q.tags.room);
  for (const std::string& t : opt.tags) {
    if (t == "style") ++c.n_style, ++c.used;
    else if (t == "stories") ++c.n_stories, ++c.used;
    else if (t == "room") ++c.n_room, ++c.used;
  }
  return c;
}

// The class and tag parts of score_parts on codes (visual left 0): the same numbers,
// without touching the entries' strings.
Breakdown fixed_parts(const CodedQuery& q, const HotRow& c, const ScoreOptions& opt) {
  Breakdown b;
  if (q.has_front && c.has_front)
    b.cls = opt.soft_class ? q.front * c.front
                           : (q.front >= opt.front_threshold && c.front >= opt.front_threshold) ? 1.0f : 0.0f;
  if (q.used) {
    auto same = [](std::uint8_t a, std::uint8_t b2) {
      return a != 0 && a < Catalog::kUnknownTag - 1 && a == b2;
    };
    const int n = q.n_style * same(q.style, c.style) + q.n_stories * same(q.stories, c.stories) +
                  q.n_room * same(q.room, c.room);
    b.tag = static_cast<float>(n) / q.used;
    if (opt.tags_need_fronts) b.tag *= b.cls;
  }
  return b;
}

// score_parts on codes.
Breakdown score_coded(const CodedQuery& q, const HotRow& c, float cosine, const ScoreOptions& opt) {
  Breakdown b = fixed_parts(q, c, opt);
  b.visual = std::clamp((cosine + 1.0f) * 0.5f, 0.0f, 1.0f);
  return b;
}

// Lists from which the scan runs in parts on TBB's threads: shorter ones are done on one
// thread before others would have started.
constexpr std::size_t kParallelScanAt = 1024;
// Rows per part: a few hundred rows keep both cores busy to the end of a list of thousands.
// Each part is a task of its own (simple_partitioner): when the other core is taken away
// mid-scan, this thread takes over the parts not yet started instead of waiting for a
// range TBB's default partitioner handed the other thread.
constexpr std::size_t kPartRows = 256;
// Lists from which the fast pass pays for the exact rescoring of its borderline rows
// (RefineIndex's own threshold for kFast).
constexpr std::size_t kFastListAt = 2048;
// Candidate listing lists from which the lookups run in parts on TBB's threads, and the
// ids a part.
constexpr std::size_t kParallelGatherAt = 4096;
constexpr std::size_t kGatherPart = 2048;
// Rows of the pruned scan's first pass (at least k), which sets the cut for the second. Two
// passes rather than many small waves: each pass ends with the threads meeting, and on a
// loaded machine every meeting waits for a thread that was not running.
constexpr std::size_t kFirstWaveRows = 1024;

// out[j] = the score of rows[j] (VectorIndex::score_rows with pass), a long list in parts on
// TBB's threads or req.run_parts; returns the largest error bound of the parts.
float scan(const index::VectorIndex& index, std::span<const float> query, std::span<const std::uint32_t> rows,
           float* out, index::Pass pass, const RecommendRequest& req) {
  if (rows.size() < kParallelScanAt) return index.score_rows(query, rows, out, pass);
  std::atomic<float> error{0.0f};
  auto part = [&](std::size_t begin, std::size_t count) {
    const float e = index.score_rows(query, rows.subspan(begin, count), out + begin, pass);
    float seen = error.load(std::memory_order_relaxed);
    while (e > seen && !error.compare_exchange_weak(seen, e, std::memory_order_relaxed)) {
    }
  };
  if (req.run_parts) {
    req.run_parts((rows.size() + kPartRows - 1) / kPartRows, [&](std::size_t i) {
      part(i * kPartRows, std::min(kPartRows, rows.size() - i * kPartRows));
    });
  } else {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows.size(), kPartRows),
                      [&](const tbb::blocked_range<std::size_t>& r) { part(r.begin(), r.size()); },
                      tbb::simple_partitioner());
  }
  return error.load();
}

struct Scan {
  std::size_t scanned = 0;  // rows[0, scanned) have their cosine in cos
  float error = 0;          // bound of those cosines' error
};

// The exact pruning: final = w_cls * class + w_tag * tag + w_visual * visual with visual in
// [0, 1], so a candidate's class and tag parts bound its score before any dot product. The
// candidates whose bound reaches the k-th best bound (at least k of them) are scored first;
// the k-th best lower bound of their scores is a score k candidates reach, and of the rest
// only those whose bound reaches it can enter the top k. Only for lists of more than k
// candidates where every candidate is its own listing (they compete one to one). `rows`
// comes in row order and each pass keeps it (a forward sweep of the matrix); on return
// rows[0, scanned) are the scored ones.
Scan scan_pruned(const index::VectorIndex& index, const std::vector<HotRow>& hot, const CodedQuery& q,
                 const RecommendRequest& req, std::vector<std::uint32_t>& rows, float* cos, index::Pass pass) {
  const Weights& w = req.scoring.weights;
  const std::size_t n = rows.size();
  std::vector<float> upper(n);
  for (std::size_t j = 0; j < n; ++j) {
    const Breakdown b = fixed_parts(q, hot[rows[j]], req.scoring);
    upper[j] = static_cast<float>(w.cls * b.cls + w.tag * b.tag + std::max(w.visual, 0.0));
  }
  std::vector<float> nth(upper);
  std::nth_element(nth.begin(), nth.begin() + static_cast<std::ptrdiff_t>(req.k - 1), nth.end(), std::greater<>());
  const float kth_bound = nth[req.k - 1];
  // First the rows whose bound reaches the k-th best bound, then the others, each in row order.
  std::vector<std::uint32_t> later;
  std::vector<float> later_upper;
  std::size_t first = 0;
  for (std::size_t j = 0; j < n; ++j) {
    if (upper[j] >= kth_bound) {
      rows[first++] = rows[j];
    } else {
      later.push_back(rows[j]);
      later_upper.push_back(upper[j]);
    }
  }
  // When few could be skipped, one pass over all of them costs less than the second pass's
  // wait for the threads (measured 1.6 ms of a 6.5 ms scan of 10,000 rows on a loaded
  // machine; an eighth of the rows take about as long to score).
  if (later.size() * 8 < n) {
    std::copy(later.begin(), later.end(), rows.begin() + static_cast<std::ptrdiff_t>(first));
    std::inplace_merge(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(first), rows.end());
    return {n, scan(index, req.query.vector, rows, cos, pass, req)};
  }
  // 1. The best-bound candidates: the k-th best lower bound of their scores is the cut.
  Scan out;
  out.error = scan(index, req.query.vector, std::span(rows).first(first), cos, pass, req);
  // Float rounding of the parts and of the sums, with room to spare.
  const double rounding = 1e-5 * (1 + std::abs(w.cls) + std::abs(w.tag) + std::abs(w.visual));
  const double margin = std::abs(w.visual) * 0.5 * out.error + rounding;
  std::vector<float> lows(first);
  for (std::size_t j = 0; j < first; ++j)
    lows[j] = static_cast<float>(final_score(score_coded(q, hot[rows[j]], cos[j], req.scoring), w) - margin);
  std::nth_element(lows.begin(), lows.begin() + static_cast<std::ptrdiff_t>(req.k - 1), lows.end(), std::greater<>());
  const float cut = lows[req.k - 1];
  // 2. The rest whose bound reaches the cut, in one pass.
  std::size_t end = first;
  for (std::size_t j = 0; j < later.size(); ++j)
    if (!(later_upper[j] < cut)) rows[end++] = later[j];
  out.error = std::max(out.error, scan(index, req.query.vector, std::span(rows).subspan(first, end - first),
                                       cos + first, pass, req));
  out.scanned = end;
  return out;
}

}  // namespace

RecommendResult recommend(const Catalog& catalog, const RecommendRequest& req) {
  RecommendResult out;
  const index::VectorIndex& index = catalog.index();
  if (req.k == 0 || req.query.vector.size() != index.dim()) return out;
  const std::vector<HotRow>& hot = catalog.hot();
  // 1. The candidate rows, each once, marked in `seen`. Everything
  // a candidate needs is in its hot row, so gathering thousands costs a lookup and one cache
  // line each.
  std::vector<std::uint32_t> rows;
  bool in_row_order = false;  // rows holds the candidates in row order (else seen.rows() gives them)
  bool ann_asked = false;     // the approximate index was asked for candidates
  index::IDSelectorBitmap seen(index);
  auto listing_ok = [&](const CatalogListing* l) {
    if (!l) return req.filters.empty();
    if (!req.query.listing_id.empty() && l->listing.id == req.query.listing_id) return false;
    return req.filters.empty() || req.filters.matches(l->listing);
  };
  // Whether row was marked now; `shared`: other threads mark at the same time.
  auto add_row = [&](std::int64_t row, bool shared = false) {
    if (row < 0) return false;
    if (req.query.image_id && *req.query.image_id == hot[static_cast<std::size_t>(row)].image_id) return false;
    const auto r = static_cast<std::uint32_t>(row);
    return shared ? seen.insert_shared(r) : seen.insert(r);
  };
  // Whether the listing passed the filters and brought a photo.
  auto add_listing = [&](const CatalogListing& l, bool shared = false) {
    if (!listing_ok(&l)) return false;
    if (!req.all_photos) return add_row(l.title_row, shared);
    bool added = false;
    for (std::int64_t id : l.image_ids)
      if (const CatalogEntry* e = catalog.find(id)) added |= add_row(e->row, shared);
    return added;
  };
  if (!req.image_ids.empty() || !req.listing_ids.empty()) {
    for (std::int64_t id : req.image_ids) {
      const CatalogEntry* e = catalog.find(id);
      if (e && listing_ok(e->listing)) add_row(e->row);
    }
    // Looking up thousands of listings waits on memory at every one: long lists are looked
    // up in parts on TBB's threads.
    const std::span<const std::string> ids(req.listing_ids);
    auto add_listings = [&](std::size_t begin, std::size_t count, bool shared) {
      std::vector<const CatalogListing*> found;
      catalog.find_listings(ids.subspan(begin, count), found);
      for (std::size_t i = 0; i < found.size(); ++i) {
        if (i + 8 < found.size() && found[i + 8] && found[i + 8]->title_row >= 0)
          __builtin_prefetch(&hot[static_cast<std::size_t>(found[i + 8]->title_row)]);
        if (found[i]) add_listing(*found[i], shared);
      }
    };
    if (ids.size() < kParallelGatherAt) {
      add_listings(0, ids.size(), false);
    } else {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, ids.size(), kGatherPart),
                        [&](const tbb::blocked_range<std::size_t>& r) { add_listings(r.begin(), r.size(), true); });
    }
  } else {
    const auto* ann = req.ann_depth ? dynamic_cast<const index::AnnIndex*>(&index) : nullptr;
    if (ann && ann->active()) {
      // With filters, the IVF search only returns photos of listings that pass them, so
      // the depth is taken among those (a narrow filter does not leave it short).
      std::optional<index::IDSelectorBitmap> passing;
      std::size_t members = index.size();
      if (!req.filters.empty()) {
        passing.emplace(index);
        members = 0;
        catalog.for_each_listing([&](const CatalogListing& l) {
          if (listing_ok(&l))
            for (std::int64_t id : l.image_ids)
              if (const CatalogEntry* e = catalog.find(id)) members += passing->insert(e->row);
        });
      }
      // When the depth reaches every photo that passes, the IVF would return them all:
      // the scan below finds the same candidates without it (and the answer is exact).
      if (members > req.ann_depth) {
        ann_asked = true;
        // The listings owning one of the nearest ann_depth photos, then filtered and
        // scored exactly like the scan below would (by title or every photo).
        std::unordered_set<const CatalogListing*> near;
        std::size_t passed = 0;
        for (std::int64_t id : ann->nearest_ids(req.query.vector, req.ann_depth, passing ? &*passing : nullptr,
                                                members)) {
          const CatalogEntry* e = catalog.find(id);
          if (e && e->listing && near.insert(e->listing).second) passed += add_listing(*e->listing);
        }
        out.approximate = passed >= req.k;
      }
    }
    if (!out.approximate && !ann_asked && !req.all_photos) {
      // Every listing by its title photo: one forward sweep of the hot rows finds them
      // already in row order, with no listing visited unless a filter reads it.
      in_row_order = true;
      const CatalogListing* own = req.query.listing_id.empty() ? nullptr : catalog.listing(req.query.listing_id);
      const bool filtered = !req.filters.empty();
      rows.reserve(catalog.listings().size());
      for (std::size_t r = 0; r < hot.size(); ++r) {
        const HotRow& h = hot[r];
        if (filtered && r + 8 < hot.size() && hot[r + 8].is_title) __builtin_prefetch(hot[r + 8].listing);
        if (!h.is_title || !h.listing || h.listing == own) continue;
        if (req.query.image_id && *req.query.image_id == h.image_id) continue;
        if (filtered && !req.filters.matches(h.listing->listing)) continue;
        rows.push_back(static_cast<std::uint32_t>(r));
      }
    } else if (!out.approximate) {
      // Too few survived the filters: the scan adds every other listing (rows already
      // added are skipped), so the answer is the exact one.
      catalog.for_each_listing([&](const CatalogListing& l) { add_listing(l); });
    }
  }
  // In row order: rows follow the order listings were indexed in, so a candidate list
  // becomes a forward sweep of the matrix (and of the hot rows) that the memory system
  // streams, instead of jumps at random. The answer does not depend on the order: ties are
  // broken by image id below.
  if (!in_row_order) rows = seen.rows();
  const std::size_t n = rows.size();
  out.candidates = n;
  if (n == 0) return out;

  // 2. Cosines, then the cheap per-candidate parts. The index picks how: a large list may
  // get fast approximate scores (within the error it returns), and then only the candidates
  // that could still make the top k are rescored exactly, so the answer equals an exact
  // scan. With at most k candidates every one is in the answer, so only exact scores are
  // worth computing.
  const CodedQuery q = code_query(catalog, req.query, req.scoring);
  const index::Pass pass = n <= req.k            ? index::Pass::kExact
                           : n >= kFastListAt    ? index::Pass::kFastPart
                                                 : index::Pass::kFast;
  const bool per_listing_needed = req.all_photos || !req.image_ids.empty();
  std::vector<float> cos(n);
  Scan scan_done;
  if (req.prune && !per_listing_needed && n > req.k) {
    scan_done = scan_pruned(index, hot, q, req, rows, cos.data(), pass);
  } else {
    scan_done = {n, scan(index, req.query.vector, rows, cos.data(), pass, req)};
  }
  const float error = scan_done.error;
  rows.resize(scan_done.scanned);
  cos.resize(scan_done.scanned);
  out.scanned = scan_done.scanned;
  struct Scored {
    std::uint32_t row;
    float score;
    Breakdown b;
  };
  std::vector<Scored> scored(rows.size());
  for (std::size_t j = 0; j < rows.size(); ++j) {
    Breakdown b = score_coded(q, hot[rows[j]], cos[j], req.scoring);
    scored[j] = {rows[j], final_score(b, req.scoring.weights), b};
  }
  auto better = [&](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : hot[a.row].image_id < hot[b.row].image_id;
  };
  if (error > 0) {
    // visual = (cosine + 1) / 2, so a final score is off by at most |w_visual| * error / 2;
    // listings compete by their best photo.
    const double score_error = std::abs(req.scoring.weights.visual) * 0.5 * error;
    std::vector<float> best;
    if (per_listing_needed) {
      std::unordered_map<const void*, float> by_listing;
      for (const Scored& s : scored) {
        auto [it, inserted] = by_listing.emplace(hot[s.row].listing, s.score);
        if (!inserted) it->second = std::max(it->second, s.score);
      }
      for (const auto& [l, v] : by_listing) best.push_back(v);
    } else {
      best.reserve(scored.size());
      for (const Scored& s : scored) best.push_back(s.score);
    }
    const float cut = index::refine_cutoff(best, req.k, score_error);
    std::erase_if(scored, [&](const Scored& s) { return s.score < cut; });
    rows.resize(scored.size());
    for (std::size_t j = 0; j < scored.size(); ++j) rows[j] = scored[j].row;
    cos.resize(rows.size());
    scan(index, req.query.vector, rows, cos.data(), index::Pass::kExact, req);
    for (std::size_t j = 0; j < scored.size(); ++j) {
      scored[j].b = score_coded(q, hot[rows[j]], cos[j], req.scoring);
      scored[j].score = final_score(scored[j].b, req.scoring.weights);
    }
  }
  // 3. One result per listing: its best photo. Only needed when a listing can have
  // several candidate photos (all photos, or explicit image ids).
  if (per_listing_needed) {
    std::unordered_map<const void*, std::size_t> best;
    std::vector<Scored> per_listing;
    for (const Scored& s : scored) {
      auto [it, inserted] = best.emplace(hot[s.row].listing, per_listing.size());
      if (inserted) per_listing.push_back(s);
      else if (better(s, per_listing[it->second])) per_listing[it->second] = s;
    }
    scored.swap(per_listing);
  }
  const std::size_t k = std::min(req.k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(), better);
  out.results.reserve(k);
  for (std::size_t i = 0; i < k; ++i) {
    const HotRow& h = hot[scored[i].row];
    out.results.push_back({h.entry->image.listing_id, h.image_id, scored[i].score, scored[i].b, h.entry});
  }
  return out;
}

}  // namespace homelens::rank
