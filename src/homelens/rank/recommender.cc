#include "homelens/rank/recommender.h"

#include <algorithm>
#include <cmath>
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
  // 1. The candidate photos.
  std::vector<std::int64_t> ids;
  auto add_listing = [&](const CatalogListing& l) {
    if (l.listing.id == req.query.listing_id && !req.query.listing_id.empty()) return;
    if (!req.filters.empty() && !req.filters.matches(l.listing)) return;
    if (req.all_photos) ids.insert(ids.end(), l.image_ids.begin(), l.image_ids.end());
    else if (l.title_image >= 0) ids.push_back(l.title_image);
  };
  if (!req.image_ids.empty() || !req.listing_ids.empty()) {
    for (std::int64_t id : req.image_ids) {
      const CatalogEntry* e = catalog.find(id);
      if (!e || (req.query.image_id && *req.query.image_id == id)) continue;
      if (!req.query.listing_id.empty() && e->image.listing_id == req.query.listing_id) continue;
      const CatalogListing* l = catalog.listing(e->image.listing_id);
      if (!req.filters.empty() && (!l || !req.filters.matches(l->listing))) continue;
      ids.push_back(id);
    }
    for (const std::string& lid : req.listing_ids)
      if (const CatalogListing* l = catalog.listing(lid)) add_listing(*l);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  } else {
    ids.reserve(catalog.listings().size() * (req.all_photos ? 4 : 1));
    for (const auto& [lid, l] : catalog.listings()) add_listing(l);
  }
  out.candidates = ids.size();
  if (ids.empty() || req.k == 0) return out;

  // 2. Cosines in one gather scan, then the cheap per-candidate parts.
  std::vector<float> cos;
  if (!catalog.index().scores(req.query.vector, ids, cos)) return out;
  struct Scored {
    std::int64_t id;
    const std::string* listing;
    float score;
    Breakdown b;
  };
  std::vector<Scored> scored;
  scored.reserve(ids.size());
  for (std::size_t j = 0; j < ids.size(); ++j) {
    if (std::isnan(cos[j])) continue;
    const CatalogEntry* e = catalog.find(ids[j]);
    Breakdown b = score_parts(req.query.tags, e->tags, cos[j], req.scoring);
    scored.push_back({ids[j], &e->image.listing_id, final_score(b, req.scoring.weights), b});
  }
  auto better = [](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  };
  // 3. One result per listing: its best photo.
  if (req.all_photos) {
    std::unordered_map<std::string_view, std::size_t> best;
    std::vector<Scored> per_listing;
    for (const Scored& s : scored) {
      auto [it, inserted] = best.emplace(*s.listing, per_listing.size());
      if (inserted) per_listing.push_back(s);
      else if (better(s, per_listing[it->second])) per_listing[it->second] = s;
    }
    scored.swap(per_listing);
  }
  const std::size_t k = std::min(req.k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(), better);
  out.results.reserve(k);
  for (std::size_t i = 0; i < k; ++i)
    out.results.push_back({*scored[i].listing, scored[i].id, scored[i].score, scored[i].b});
  return out;
}

}  // namespace homelens::rank
