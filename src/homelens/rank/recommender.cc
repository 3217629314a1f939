#include "homelens/rank/recommender.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <unordered_map>

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
  return b;
}

float final_score(const Breakdown& b, const Weights& w) {
  return static_cast<float>(w.cls * b.cls + w.tag * b.tag + w.visual * b.visual);
}

RecommendResult recommend(const Catalog& catalog, const RecommendRequest& req) {
  RecommendResult out;
  const index::ExactIndex& index = catalog.index();
  if (req.k == 0 || req.query.vector.size() != index.dim()) return out;
  // 1. The candidate photos, each once. Entries carry their row and listing, so
  // gathering thousands of candidates costs one hash lookup each, not four.
  std::vector<const CatalogEntry*> cands;
  std::vector<bool> seen(index.row_capacity(), false);
  auto listing_ok = [&](const CatalogListing* l) {
    if (!l) return req.filters.empty();
    if (!req.query.listing_id.empty() && l->listing.id == req.query.listing_id) return false;
    return req.filters.empty() || req.filters.matches(l->listing);
  };
  auto add_entry = [&](const CatalogEntry* e) {
    if (!e || seen[e->row]) return;
    if (req.query.image_id && *req.query.image_id == e->image.id) return;
    seen[e->row] = true;
    cands.push_back(e);
  };
  auto add_listing = [&](const CatalogListing& l) {
    if (!listing_ok(&l)) return;
    if (!req.all_photos) return add_entry(l.title);
    for (std::int64_t id : l.image_ids) add_entry(catalog.find(id));
  };
  if (!req.image_ids.empty() || !req.listing_ids.empty()) {
    cands.reserve(req.image_ids.size() + req.listing_ids.size());
    for (std::int64_t id : req.image_ids) {
      const CatalogEntry* e = catalog.find(id);
      if (e && listing_ok(e->listing)) add_entry(e);
    }
    for (const std::string& lid : req.listing_ids)
      if (const CatalogListing* l = catalog.listing(lid)) add_listing(*l);
  } else {
    cands.reserve(catalog.listings().size() * (req.all_photos ? 4 : 1));
    for (const auto& [lid, l] : catalog.listings()) add_listing(l);
  }
  out.candidates = cands.size();
  if (cands.empty()) return out;

  // 2. Cosines in one gather scan, then the cheap per-candidate parts. The scan
  // is memory-bound; a large one is split over two threads, which together pull
  // more bandwidth than one.
  std::vector<std::uint32_t> rows(cands.size());
  for (std::size_t j = 0; j < cands.size(); ++j) rows[j] = cands[j]->row;
  std::vector<float> cos(cands.size());
  constexpr std::size_t kSplitAt = 4096;
  if (rows.size() >= kSplitAt && std::thread::hardware_concurrency() > 1) {
    const std::size_t half = rows.size() / 2;
    std::thread helper([&] {
      index.dot_rows(req.query.vector, std::span(rows).subspan(half), cos.data() + half);
    });
    index.dot_rows(req.query.vector, std::span(rows).first(half), cos.data());
    helper.join();
  } else {
    index.dot_rows(req.query.vector, rows, cos.data());
  }
  struct Scored {
    const CatalogEntry* e;
    float score;
    Breakdown b;
  };
  std::vector<Scored> scored(cands.size());
  for (std::size_t j = 0; j < cands.size(); ++j) {
    Breakdown b = score_parts(req.query.tags, cands[j]->tags, cos[j], req.scoring);
    scored[j] = {cands[j], final_score(b, req.scoring.weights), b};
  }
  auto better = [](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.e->image.id < b.e->image.id;
  };
  // 3. One result per listing: its best photo. Only needed when a listing can have
  // several candidate photos (all photos, or explicit image ids).
  if (req.all_photos || !req.image_ids.empty()) {
    std::unordered_map<const void*, std::size_t> best;
    std::vector<Scored> per_listing;
    for (const Scored& s : scored) {
      auto [it, inserted] = best.emplace(s.e->listing, per_listing.size());
      if (inserted) per_listing.push_back(s);
      else if (better(s, per_listing[it->second])) per_listing[it->second] = s;
    }
    scored.swap(per_listing);
  }
  const std::size_t k = std::min(req.k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(), better);
  out.results.reserve(k);
  for (std::size_t i = 0; i < k; ++i)
    out.results.push_back({scored[i].e->image.listing_id, scored[i].e->image.id, scored[i].score,
                           scored[i].b, scored[i].e});
  return out;
}

}  // namespace homelens::rank
