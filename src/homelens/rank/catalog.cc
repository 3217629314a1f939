#include "homelens/rank/catalog.h"

#include <algorithm>

namespace homelens::rank {

Result<Catalog> Catalog::load(store::Store& store, const std::string& model_id) {
  Catalog cat(0);
  auto st = store.scan_listings([&](const store::Listing& l) { cat.put_listing(l); });
  if (!st) return st.error();
  std::optional<Error> err;
  st = store.scan(model_id, [&](const store::ImageWithPhoto& row) {
    if (err) return;
    if (auto s = cat.put(row.image, row.photo); !s) err = s.error();
  });
  if (!st) return st.error();
  if (err) return *err;
  return cat;
}

const CatalogEntry* Catalog::find(std::int64_t image_id) const {
  auto it = entries_.find(image_id);
  return it == entries_.end() ? nullptr : &it->second;
}

const CatalogListing* Catalog::listing(const std::string& id) const {
  auto it = listings_.find(id);
  return it == listings_.end() ? nullptr : &it->second;
}

void Catalog::relink(CatalogListing& l) {
  std::sort(l.image_ids.begin(), l.image_ids.end(), [&](std::int64_t a, std::int64_t b) {
    const auto &ea = entries_.at(a).image, &eb = entries_.at(b).image;
    return ea.photo_order != eb.photo_order ? ea.photo_order < eb.photo_order : a < b;
  });
  l.title_image = l.image_ids.empty() ? -1 : l.image_ids.front();
  for (std::int64_t id : l.image_ids)
    if (entries_.at(id).image.is_title) {
      l.title_image = id;
      break;
    }
  l.title = l.title_image >= 0 ? &entries_.at(l.title_image) : nullptr;
  for (std::int64_t id : l.image_ids) entries_.at(id).listing = &l;
}

Status Catalog::put(const store::Image& image, const store::Photo& photo) {
  if (index_.dim() == 0 && index_.size() == 0) index_ = index::ExactIndex(photo.embedding.size());
  if (auto st = index_.add(image.id, photo.embedding); !st) return st;
  if (auto old = entries_.find(image.id); old != entries_.end() && old->second.image.listing_id != image.listing_id) {
    CatalogListing& prev = listings_[old->second.image.listing_id];
    prev.image_ids.erase(std::remove(prev.image_ids.begin(), prev.image_ids.end(), image.id),
                         prev.image_ids.end());
    relink(prev);
  }
  entries_[image.id] = CatalogEntry{image, photo.sha256, photo.tags, *index_.row_of(image.id), nullptr};
  CatalogListing& l = listings_[image.listing_id];
  if (l.listing.id.empty()) l.listing.id = image.listing_id;
  if (std::find(l.image_ids.begin(), l.image_ids.end(), image.id) == l.image_ids.end())
    l.image_ids.push_back(image.id);
  relink(l);
  return {};
}

void Catalog::put_listing(const store::Listing& listing) {
  listings_[listing.id].listing = listing;
}

void Catalog::set_title(const std::string& listing_id, std::int64_t image_id) {
  auto it = listings_.find(listing_id);
  if (it == listings_.end()) return;
  for (std::int64_t id : it->second.image_ids) entries_.at(id).image.is_title = id == image_id;
  relink(it->second);
}

bool Catalog::remove_image(std::int64_t image_id) {
  auto it = entries_.find(image_id);
  if (it == entries_.end()) return false;
  auto l = listings_.find(it->second.image.listing_id);
  if (l != listings_.end()) {
    auto& ids = l->second.image_ids;
    ids.erase(std::remove(ids.begin(), ids.end(), image_id), ids.end());
  }
  entries_.erase(it);
  index_.remove(image_id);
  if (l != listings_.end()) relink(l->second);
  return true;
}

bool Catalog::remove_listing(const std::string& listing_id) {
  auto it = listings_.find(listing_id);
  if (it == listings_.end()) return false;
  for (std::int64_t id : it->second.image_ids) {
    entries_.erase(id);
    index_.remove(id);
  }
  listings_.erase(it);
  return true;
}

std::vector<index::Hit> similar(const Catalog& catalog, const SimilarQuery& q) {
  auto accept = [&](std::int64_t id) {
    if (q.image_id && id == *q.image_id) return false;
    const CatalogEntry* e = catalog.find(id);
    if (!e) return false;
    if (q.exclude_same_listing && !q.listing_id.empty() && e->image.listing_id == q.listing_id)
      return false;
    if (q.exclude_same_photo && !q.sha256.empty() && e->sha256 == q.sha256) return false;
    return true;
  };
  return catalog.index().search(q.vector, q.k, accept);
}

}  // namespace homelens::rank
