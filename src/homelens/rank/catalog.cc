#include "homelens/rank/catalog.h"

#include "homelens/index/id_selector.h"
#include "homelens/index/index_factory.h"

#include <algorithm>
#include <functional>
#include <string_view>

namespace homelens::rank {

Catalog::Catalog(std::size_t dim) : Catalog(std::move(create(dim, "")).value()) {}

Result<Catalog> Catalog::create(std::size_t dim, std::string_view index_spec) {
  auto index = index::make_index(index_spec, dim);
  if (!index) return index.error();
  // Queries by an indexed photo read its vector back from the index, so a kind
  // that keeps no float copy (HalfFlat or SQ8Flat alone) would answer them with nothing.
  auto probe = std::move(index::make_index(index_spec, 1)).value();
  const float one = 1.0f;
  if (!probe->add(0, {&one, 1}) || probe->vector(0).empty())
    return make_error("index \"" + std::string(index_spec) + "\"",
                      "keeps no float vectors to query by; use Flat, Refine(HalfFlat) or Refine(SQ8Flat)",
                      ErrorCode::kInvalidArgument);
  return Catalog(std::string(index_spec), std::move(*index));
}

Result<Catalog> Catalog::load(store::Store& store, const std::string& model_id, std::string_view index_spec) {
  auto created = create(0, index_spec);
  if (!created) return created.error();
  Catalog& cat = *created;
  auto st = store.scan_listings([&](const store::Listing& l) { cat.put_listing(l); });
  if (!st) return st.error();
  std::optional<Error> err;
  st = store.scan(model_id, [&](const store::ImageWithPhoto& row) {
    if (err) return;
    if (auto s = cat.put(row.image, row.photo); !s) err = s.error();
  });
  if (!st) return st.error();
  if (err) return *err;
  return std::move(cat);
}

const CatalogEntry* Catalog::find(std::int64_t image_id) const {
  auto it = entries_.find(image_id);
  return it == entries_.end() ? nullptr : &it->second;
}

const CatalogListing* Catalog::listing(const std::string& id) const {
  auto it = listings_.find(id);
  return it == listings_.end() ? nullptr : &it->second;
}

std::uint64_t Catalog::hash_id(const std::string& id) {
  return std::hash<std::string_view>{}(id);
}

void Catalog::slot_insert(const CatalogListing* l) {
  if ((slots_used_ + 1) * 2 > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<std::size_t>(16, old.size() * 2), Slot{});
    slots_used_ = 0;
    for (const Slot& s : old)
      if (s.listing) slot_insert(s.listing);
  }
  const std::size_t mask = slots_.size() - 1;
  const std::uint64_t h = hash_id(l->listing.id);
  std::size_t i = h & mask;
  while (slots_[i].listing) i = (i + 1) & mask;
  slots_[i] = {h, l};
  ++slots_used_;
}

void Catalog::slot_erase(const std::string& id) {
  if (slots_.empty()) return;
  const std::size_t mask = slots_.size() - 1;
  const std::uint64_t h = hash_id(id);
  std::size_t i = h & mask;
  while (slots_[i].listing && !(slots_[i].hash == h && slots_[i].listing->listing.id == id)) i = (i + 1) & mask;
  if (!slots_[i].listing) return;
  // Backward-shift deletion: pull later entries of the probe run into the hole
  // unless their home slot lies after it, so lookups never need tombstones.
  for (std::size_t j = (i + 1) & mask; slots_[j].listing; j = (j + 1) & mask) {
    const std::size_t home = slots_[j].hash & mask;
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{};
  --slots_used_;
}

void Catalog::find_listings(std::span<const std::string> ids, std::vector<const CatalogListing*>& out) const {
  out.assign(ids.size(), nullptr);
  if (slots_.empty()) return;
  const std::size_t n = ids.size(), mask = slots_.size() - 1;
  constexpr std::size_t kAhead = 8;
  std::vector<std::uint64_t> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = hash_id(ids[i]);
  // Pass 1: the first slot whose hash matches (slots prefetched kAhead ahead).
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(&slots_[h[i + kAhead] & mask]);
    for (std::size_t j = h[i] & mask; slots_[j].listing; j = (j + 1) & mask)
      if (slots_[j].hash == h[i]) {
        out[i] = slots_[j].listing;
        break;
      }
  }
  // Pass 2: confirm the id (listings prefetched ahead); a 64-bit hash collision
  // falls back to a full probe.
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && out[i + kAhead]) __builtin_prefetch(out[i + kAhead]);
    if (!out[i] || out[i]->listing.id == ids[i]) continue;
    out[i] = listing(ids[i]);
  }
}

std::uint8_t Catalog::tag_code(const std::string& value) const {
  for (std::size_t c = 0; c < tag_values_.size(); ++c)
    if (tag_values_[c] == value) return static_cast<std::uint8_t>(c);
  return kUnknownTag;
}

std::uint8_t Catalog::intern(const std::string& value) {
  std::uint8_t c = tag_code(value);
  if (c != kUnknownTag) return c;
  // More distinct values than codes (never with the shipped heads) share the last
  // code, which tag scoring treats as never matching.
  if (tag_values_.size() >= kUnknownTag - 1) return kUnknownTag - 1;
  tag_values_.push_back(value);
  return static_cast<std::uint8_t>(tag_values_.size() - 1);
}

void Catalog::refresh_hot(const CatalogEntry& e) {
  if (hot_.size() < index_->row_capacity()) hot_.resize(index_->row_capacity());
  HotRow& h = hot_[e.row];
  h.entry = &e;
  h.listing = e.listing;
  h.image_id = e.image.id;
  h.has_front = e.tags.front.has_value();
  h.front = e.tags.front.value_or(0.0f);
  h.style = intern(e.tags.style);
  h.stories = intern(e.tags.stories);
  h.room = intern(e.tags.room);
}

CatalogListing& Catalog::listing_node(const std::string& id) {
  auto [it, inserted] = listings_.try_emplace(id);
  if (inserted) {
    it->second.listing.id = id;
    slot_insert(&it->second);
  }
  return it->second;
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
  l.title_row = l.title ? static_cast<std::int64_t>(l.title->row) : -1;
  for (std::int64_t id : l.image_ids) {
    CatalogEntry& e = entries_.at(id);
    e.listing = &l;
    hot_[e.row].listing = &l;
    hot_[e.row].is_title = id == l.title_image;
  }
}

Status Catalog::put(const store::Image& image, const store::Photo& photo) {
  if (index_->dim() == 0 && index_->size() == 0)
    index_ = std::move(index::make_index(index_spec_, photo.embedding.size())).value();
  if (auto st = index_->add(image.id, photo.embedding); !st) return st;
  if (auto old = entries_.find(image.id); old != entries_.end() && old->second.image.listing_id != image.listing_id) {
    CatalogListing& prev = listing_node(old->second.image.listing_id);
    prev.image_ids.erase(std::remove(prev.image_ids.begin(), prev.image_ids.end(), image.id),
                         prev.image_ids.end());
    relink(prev);
  }
  CatalogEntry& e = entries_[image.id];
  e = CatalogEntry{image, photo.sha256, photo.tags, *index_->row_of(image.id), nullptr};
  refresh_hot(e);
  CatalogListing& l = listing_node(image.listing_id);
  if (std::find(l.image_ids.begin(), l.image_ids.end(), image.id) == l.image_ids.end())
    l.image_ids.push_back(image.id);
  relink(l);
  return {};
}

void Catalog::put_listing(const store::Listing& listing) {
  listing_node(listing.id).listing = listing;
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
  hot_[it->second.row] = HotRow{};
  entries_.erase(it);
  index_->remove(image_id);
  if (l != listings_.end()) relink(l->second);
  return true;
}

bool Catalog::remove_listing(const std::string& listing_id) {
  auto it = listings_.find(listing_id);
  if (it == listings_.end()) return false;
  for (std::int64_t id : it->second.image_ids) {
    if (auto e = entries_.find(id); e != entries_.end()) hot_[e->second.row] = HotRow{};
    entries_.erase(id);
    index_->remove(id);
  }
  slot_erase(listing_id);
  listings_.erase(it);
  return true;
}

std::vector<index::Hit> similar(const Catalog& catalog, const SimilarQuery& q) {
  std::vector<std::int64_t> excluded;
  if (q.image_id) excluded.push_back(*q.image_id);
  if (q.exclude_same_listing && !q.listing_id.empty())
    if (const CatalogListing* l = catalog.listing(q.listing_id))
      excluded.insert(excluded.end(), l->image_ids.begin(), l->image_ids.end());
  if (q.exclude_same_photo && !q.sha256.empty())
    for (const auto& [id, e] : catalog.entries())
      if (e.sha256 == q.sha256) excluded.push_back(id);
  const index::IDSelectorAllBut others(excluded);
  return catalog.index().search(q.vector, q.k, &others);
}

}  // namespace homelens::rank
