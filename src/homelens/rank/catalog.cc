#include "homelens/rank/catalog.h"

namespace homelens::rank {

Result<Catalog> Catalog::load(store::Store& store, const std::string& model_id) {
  std::optional<Catalog> cat;
  std::optional<Error> err;
  auto st = store.scan(model_id, [&](const store::ImageWithPhoto& row) {
    if (err) return;
    if (!cat) cat.emplace(row.photo.embedding.size());
    if (auto s = cat->put(row.image, row.photo); !s) err = s.error();
  });
  if (!st) return st.error();
  if (err) return *err;
  if (!cat) return Catalog(0);
  return std::move(*cat);
}

const CatalogEntry* Catalog::find(std::int64_t image_id) const {
  auto it = entries_.find(image_id);
  return it == entries_.end() ? nullptr : &it->second;
}

Status Catalog::put(const store::Image& image, const store::Photo& photo) {
  if (auto st = index_.add(image.id, photo.embedding); !st) return st;
  entries_[image.id] = CatalogEntry{image, photo.sha256, photo.tags};
  return {};
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
