#include "homelens/engine/engine.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <string_view>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_set>

#include "homelens/core/cpu.h"
#include "homelens/core/log.h"
#include "homelens/ingest/prepare.h"
#include "homelens/model/embedding.h"

namespace homelens::engine {

namespace {

constexpr std::size_t kMaxContentBytes = 256u << 20;

std::string mime_for(const std::string& format) {
  if (format == "jpeg") return "image/jpeg";
  if (format == "png") return "image/png";
  if (format == "webp") return "image/webp";
  if (format == "bmp") return "image/bmp";
  if (format == "tiff") return "image/tiff";
  return "application/octet-stream";
}

// Numeric ids sort numerically ("9" before "10"), others as text.
bool numeric_less(const std::string& a, const std::string& b) {
  const bool an = !a.empty() && a.find_first_not_of("0123456789") == std::string::npos;
  const bool bn = !b.empty() && b.find_first_not_of("0123456789") == std::string::npos;
  if (an && bn && a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

void apply_patch(store::Listing& l, const ListingPatch& p) {
  if (p.price) l.price = p.price;
  if (p.beds) l.beds = p.beds;
  if (p.baths) l.baths = p.baths;
  if (p.area) l.area = p.area;
  if (p.zip) l.zip = *p.zip;
}

// An embedder borrowed from the pool for one call.
class Borrowed {
 public:
  Borrowed(std::mutex& mu, std::condition_variable& cv,
           std::vector<std::unique_ptr<model::Embedder>>& pool)
      : mu_(mu), cv_(cv), pool_(pool) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !pool_.empty(); });
    e_ = std::move(pool_.back());
    pool_.pop_back();
  }
  ~Borrowed() {
    {
      std::lock_guard lock(mu_);
      pool_.push_back(std::move(e_));
    }
    cv_.notify_one();
  }
  model::Embedder& operator*() { return *e_; }
  model::Embedder* operator->() { return e_.get(); }

 private:
  std::mutex& mu_;
  std::condition_variable& cv_;
  std::vector<std::unique_ptr<model::Embedder>>& pool_;
  std::unique_ptr<model::Embedder> e_;
};

// Threads of this process other than the calling one that are runnable now (state R in
// /proc/self/task/*/stat).
int own_other_running() {
  const std::string self = std::to_string(static_cast<long>(::syscall(SYS_gettid)));
  int n = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    if (task.path().filename() == self) continue;
    std::FILE* f = std::fopen((task.path() / "stat").c_str(), "r");
    if (!f) continue;
    char buf[512];
    const std::size_t got = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const std::string_view line(buf, got);
    // "tid (name) S ...": the name may hold spaces and parentheses, the state follows the last ')'.
    const std::size_t close = line.rfind(')');
    if (close != std::string_view::npos && close + 2 < line.size() && line[close + 2] == 'R') ++n;
  }
  return n;
}

// Whether no other process on the machine wants a core now: the kernel's count of runnable
// threads (the fourth field of /proc/loadavg, "running/total") is this process's alone. Other
// processes matter as much as this one's requests: a two-thread forward took 34 ms with both
// cores compiling, against 4 ms idle and 7 ms on one thread. This process's own runnable
// threads are not counted (the engine counts its own work in busy_): after a forward the wide
// network's OpenMP threads spin for some milliseconds, and counting them sent a third of
// back-to-back uploads to the one-thread network.
bool machine_idle() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return false;
  double l1 = 0, l5 = 0, l15 = 0;
  int running = 0, total = 0;
  const int got = std::fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total);
  std::fclose(f);
  if (got != 5) return false;
  return running <= 1 || running - own_other_running() <= 1;
}

// Counts a query or upload as under way for its lifetime.
class Busy {
 public:
  explicit Busy(std::atomic<int>& n) : n_(n) { ++n_; }
  ~Busy() { --n_; }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  std::atomic<int>& n_;
};

}  // namespace

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine(options));
  auto st = store::open_store(options.db);
  if (!st) return st.error();
  e->store_ = std::move(*st);
  return e;
}

Status Engine::ensure_pool() {
  std::lock_guard lock(pool_mu_);
  if (pool_made_) return {};
  // Made on first use: a batch run (index) embeds through the pipeline's own networks.
  const int n = std::max(1, options_.embedders);
  for (int i = 0; i < n; ++i) {
    auto emb = model::Embedder::open(options_.spec, {options_.threads_per_embedder, true});
    if (!emb) return emb.error();
    pool_.push_back(std::make_unique<model::Embedder>(std::move(*emb)));
  }
  min_decode_side_ = pool_.front()->min_decode_side();
  const int cores = static_cast<int>(usable_cores());
  if (options_.wide_when_idle && cores > std::max(1, options_.threads_per_embedder) &&
      std::string(pool_.front()->backend_name()) == "onednn") {
    model::ModelSpec spec = options_.spec;
    spec.backend = "onednn";  // "auto" must not fall back to OpenCV, whose thread count is process-wide
    auto emb = model::Embedder::open(spec, {cores, true});
    if (!emb) return emb.error();
    wide_ = std::make_unique<model::Embedder>(std::move(*emb));
    wide_thread_ = std::make_unique<SerialThread>();
  }
  pool_made_ = true;
  return {};
}

Engine::~Engine() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  // What was applied since the last save goes to the file, so the next start replays less.
  if (auto* ann = dynamic_cast<index::AnnIndex*>(&catalog_.mutable_index()); ann && ann->built() && ann->unsaved())
    if (const std::string path = ann_path(); !path.empty())
      if (auto st = ann->save(path, {applied_seq_, options_.spec.id}); !st)
        log::warn("approximate index not saved: " + st.message());
}

Status Engine::load() {
  if (auto st = ensure_loaded(); !st) return st;
  std::lock_guard lock(stop_mu_);
  if (!refresher_.joinable() && options_.refresh_seconds > 0)
    refresher_ = std::thread([this] { refresh_loop(); });
  return {};
}

Status Engine::ensure_loaded() {
  if (loaded_.load(std::memory_order_acquire)) return {};
  std::lock_guard lock(load_mu_);
  if (loaded_) return {};
  auto seq = store_->last_change();
  if (!seq) return seq.error();
  auto cat = rank::Catalog::load(*store_, options_.spec.id, options_.index);
  if (!cat) return cat.error();
  if (auto st = prepare_ann(*cat, *seq); !st) return st;
  {
    std::unique_lock w(catalog_mu_);
    catalog_ = std::move(*cat);
  }
  // Changes committed while the table was being read are applied again by the
  // next refresh: applying one twice is harmless, missing one is not.
  applied_seq_ = *seq;
  loaded_.store(true, std::memory_order_release);
  return {};
}

void Engine::refresh_loop() {
  const auto interval = std::chrono::duration<double>(options_.refresh_seconds);
  std::unique_lock lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, interval, [&] { return stopping_; })) {
    lock.unlock();
    // A store that is unreachable for a while is retried on the next tick; the
    // catalogue keeps answering from what it has.
    (void)refresh();
    lock.lock();
  }
}

Status Engine::refresh() {
  if (auto st = ensure_loaded(); !st) return st;
  std::lock_guard one(refresh_mu_);
  for (;;) {
    auto changes = store_->changes_since(applied_seq_, 2000);
    if (!changes) return changes.error();
    if (changes->empty()) return {};
    // Re-read the current state of everything that changed (outside the catalogue
    // lock), then apply it in one short exclusive section.
    std::set<std::string> listing_ids, shas;
    std::set<std::int64_t> image_ids;
    for (const store::Change& c : *changes) {
      switch (c.kind) {
        case store::Change::Kind::kListing: listing_ids.insert(c.key); break;
        case store::Change::Kind::kPhoto: shas.insert(c.key); break;
        case store::Change::Kind::kImage: {
          std::int64_t id = 0;
          try {
            id = std::stoll(c.key);
          } catch (const std::exception&) {
            return make_error("change log", "image key \"" + c.key + "\" is not an id",
                              ErrorCode::kCorruption);
          }
          image_ids.insert(id);
          break;
        }
      }
    }
    for (const std::string& sha : shas) {
      auto ids = store_->images_of_photo(sha);
      if (!ids) return ids.error();
      image_ids.insert(ids->begin(), ids->end());
    }
    std::vector<std::pair<std::string, std::optional<store::Listing>>> listings;
    std::vector<std::pair<std::string, std::vector<store::Image>>> titles;
    for (const std::string& id : listing_ids) {
      auto l = store_->get_listing(id);
      if (!l) return l.error();
      if (l->has_value()) {
        auto images = store_->listing_images(id);
        if (!images) return images.error();
        for (const store::Image& im : *images) image_ids.insert(im.id);
        titles.emplace_back(id, std::move(*images));
      }
      listings.emplace_back(id, std::move(*l));
    }
    std::vector<std::pair<std::int64_t, std::optional<store::ImageWithPhoto>>> images;
    for (std::int64_t id : image_ids) {
      auto row = store_->get_image_with_photo(id, options_.spec.id);
      if (!row) return row.error();
      images.emplace_back(id, std::move(*row));
    }
    {
      std::unique_lock w(catalog_mu_);
      for (const auto& [id, l] : listings)
        if (l) catalog_.put_listing(*l);
      for (const auto& [id, row] : images) {
        // A row the catalogue refuses (an embedding of another size) is left out
        // rather than stopping every later change from being applied.
        if (!row) catalog_.remove_image(id);
        else if (!catalog_.put(row->image, row->photo)) catalog_.remove_image(id);
      }
      for (const auto& [id, l] : listings)
        if (!l) catalog_.remove_listing(id);
      for (const auto& [id, ims] : titles)
        for (const store::Image& im : ims)
          if (im.is_title) catalog_.set_title(id, im.id);
    }
    applied_seq_ = changes->back().seq;
    ++refreshes_;
    {
      // The catalogue may just have grown past the approximate index's threshold.
      std::unique_lock w(catalog_mu_);
      if (auto st = prepare_ann(catalog_, applied_seq_); !st) return st;
    }
  }
}

std::string Engine::ann_path() const {
  std::string model;
  for (char c : options_.spec.id) model += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  const std::string& db = options_.db;
  if (!options_.ann_dir.empty()) {
    // One file per table: the url's hash tells tables apart without putting a password in a name.
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(db));
    return (std::filesystem::path(options_.ann_dir) / ("table-" + std::string(hash) + "." + model + ".ann")).string();
  }
  if (db.starts_with("postgres")) return "";
  const std::string file = db.starts_with("sqlite:") ? db.substr(7) : db;
  if (file.empty() || file == ":memory:") return "";
  return file + "." + model + ".ann";
}

Result<std::uint64_t> Engine::replay_changes(index::AnnIndex& ann, std::int64_t after) {
  std::uint64_t read = 0;
  for (;;) {
    auto changes = store_->changes_since(after, 2000);
    if (!changes) return changes.error();
    if (changes->empty()) return read;
    std::set<std::int64_t> ids;
    for (const store::Change& c : *changes) {
      if (c.kind == store::Change::Kind::kImage) {
        try {
          ids.insert(std::stoll(c.key));
        } catch (const std::exception&) {
          return make_error("change log", "image key \"" + c.key + "\" is not an id", ErrorCode::kCorruption);
        }
      } else if (c.kind == store::Change::Kind::kPhoto) {
        auto of = store_->images_of_photo(c.key);
        if (!of) return of.error();
        ids.insert(of->begin(), of->end());
      }
    }
    for (std::int64_t id : ids) ann.sync(id);
    read += changes->size();
    after = changes->back().seq;
  }
}

Status Engine::prepare_ann(rank::Catalog& cat, std::int64_t seq) {
  if (options_.ann.min_rows == 0 || cat.index().dim() == 0) return {};
  auto* ann = dynamic_cast<index::AnnIndex*>(&cat.mutable_index());
  if (!ann) {
    std::vector<std::int64_t> ids;
    ids.reserve(cat.size());
    for (const auto& [id, e] : cat.entries()) ids.push_back(id);
    cat.wrap_index([&](std::unique_ptr<index::VectorIndex> exact) {
      return std::make_unique<index::AnnIndex>(std::move(exact), options_.ann, ids);
    });
    ann = &dynamic_cast<index::AnnIndex&>(cat.mutable_index());
  }
  if (ann->built() || ann->size() < options_.ann.min_rows) return {};
  const std::string path = ann_path();
  if (!path.empty()) {
    auto info = ann->load(path, options_.spec.id);
    if (info && info->seq <= seq) {
      auto replayed = replay_changes(*ann, info->seq);
      if (!replayed) return replayed.error();
      if (ann->ivf_size() == ann->size()) {
        ann_replayed_ += *replayed;
        log::info("approximate index loaded, not rebuilt",
                  {{"file", path}, {"photos", ann->size()}, {"saved_at_change", info->seq},
                   {"changes_replayed", *replayed}});
        if (*replayed > 0)
          if (auto st = ann->save(path, {seq, options_.spec.id}); !st)
            log::warn("approximate index not saved: " + st.message());
        return {};
      }
      log::warn("approximate index file out of step with the table; rebuilding",
                {{"file", path}, {"in_file", ann->ivf_size()}, {"photos", ann->size()}});
    } else if (info) {
      log::warn("approximate index file is newer than the table; rebuilding", {{"file", path}});
    } else if (info.error().code != ErrorCode::kNotFound) {
      log::warn("approximate index file unusable; rebuilding: " + info.error().message);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  if (auto st = ann->build(); !st) return st;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("approximate index built", {{"photos", ann->size()}, {"seconds", seconds}});
  if (!path.empty())
    if (auto st = ann->save(path, {seq, options_.spec.id}); !st)
      log::warn("approximate index not saved: " + st.message());
  return {};
}

Result<ingest::IndexSummary> Engine::add_batch(const std::vector<ingest::Item>& items,
                                               ingest::PipelineOptions options) {
  const Busy busy(busy_);
  if (!options.tagger) options.tagger = options_.tagger;
  auto summary = ingest::index_items(items, *store_, options_.spec, options);
  if (!summary) return summary;
  if (loaded_.load(std::memory_order_acquire))
    if (auto st = refresh(); !st) return st.error();
  return summary;
}

Result<store::Photo> Engine::prepare(const std::string& bytes, const std::string& name, bool code,
                                     std::unique_lock<std::mutex>* keep_wide) {
  if (auto st = ensure_pool(); !st) return st.error();
  auto header = image::read_header(bytes, name);
  if (!header) return make_error("", header.message(), ErrorCode::kUnsupported);
  image::DecodeOptions dopt = options_.decode;
  dopt.min_shorter_side = min_decode_side_;
  // Held until the pixels are embedded and released.
  auto lease = budget_.try_acquire(image::estimate_decode_bytes(*header, dopt, bytes), name);
  if (!lease) return lease.error();
  auto decoded = ingest::decode_photo(bytes, name, dopt, min_decode_side_);
  if (!decoded) return make_error("", decoded.message(), ErrorCode::kUnprocessable);
  std::vector<ingest::DecodedPhoto> batch;
  batch.push_back(std::move(*decoded));
  std::optional<std::vector<float>> centres;
  if (code) {
    auto c = store_->get_centres(options_.spec.id);
    if (!c) return c.error();
    centres = std::move(*c);
  }
  std::vector<std::string> tag_failures;
  // The wide network only when this is the one request under way, nothing else on the machine
  // runs, and no other upload has it.
  std::unique_lock wide(wide_mu_, std::defer_lock);
  if (wide_ && busy_.load() <= 1 && machine_idle() && wide.try_lock()) ++wide_embeds_;
  auto embed = [&](model::Embedder& embedder) {
    return ingest::embed_photos(batch, embedder, options_.spec.id, options_.tagger,
                                centres ? &*centres : nullptr, &tag_failures);
  };
  std::optional<decltype(embed(*wide_))> photos;
  if (wide.owns_lock()) {
    wide_thread_->run([&] { photos.emplace(embed(*wide_)); });
  } else {
    Borrowed narrow(pool_mu_, pool_cv_, pool_);
    photos.emplace(embed(*narrow));
  }
  if (!*photos) return photos->error();
  if (!tag_failures.empty() && !tag_failures[0].empty())
    log::warn("stored untagged: " + tag_failures[0], {{"photo", name}});
  if (keep_wide && wide.owns_lock()) *keep_wide = std::move(wide);
  return std::move((**photos)[0]);
}

Result<AddImageResult> Engine::add_image(const AddImageRequest& rq) {
  const Busy busy(busy_);
  if (rq.listing_id.empty())
    return make_error("", "listing_id must not be empty", ErrorCode::kInvalidArgument);
  if (rq.bytes.empty()) return make_error(rq.filename, "no photo bytes", ErrorCode::kInvalidArgument);
  if (auto st = ensure_loaded(); !st) return st.error();
  const std::string sha = image::sha256_hex(rq.bytes);
  const std::string source = rq.source ? *rq.source : "upload:" + sha;

  auto existing = store_->get_photo(sha, options_.spec.id);
  if (!existing) return existing.error();
  std::optional<store::Photo> photo = std::move(*existing);
  const bool embed_now = !photo.has_value();
  if (embed_now) {  // outside the write lock: decoding and inference take the time
    auto p = prepare(rq.bytes, rq.filename, true);
    if (!p) return p.error();
    photo = std::move(*p);
  }

  std::lock_guard wlock(write_mu_);
  // The same bytes already in this listing (under this source when one is given;
  // under any source, the command line's included, when none is) are that image.
  std::optional<std::int64_t> already;
  if (rq.source) {
    auto present = store_->find_image(rq.listing_id, source, options_.spec.id);
    if (!present) return present.error();
    if (present->has_value() && (*present)->sha256 == sha) already = (*present)->id;
  } else {
    auto images = store_->listing_images(rq.listing_id);
    if (!images) return images.error();
    for (const store::Image& im : *images)
      if (im.sha256 == sha) {
        already = im.id;
        break;
      }
  }
  if (already) {
    if (auto st = refresh(); !st) return st.error();
    std::shared_lock r(catalog_mu_);
    const rank::CatalogEntry* e = catalog_.find(*already);
    return AddImageResult{false, *already, rq.listing_id, sha, e ? e->tags : photo->tags};
  }

  auto stored = store_->get_listing(rq.listing_id);
  if (!stored) return stored.error();
  store::Listing listing = stored->value_or(store::Listing{});
  listing.id = rq.listing_id;
  apply_patch(listing, rq.listing);
  auto images = store_->listing_images(rq.listing_id);
  if (!images) return images.error();

  store::WriteBatch batch;
  batch.listings.push_back(listing);
  if (embed_now) batch.photos.push_back(*photo);
  store::Image im;
  im.listing_id = rq.listing_id;
  im.source = source;
  im.sha256 = sha;
  im.photo_order = rq.photo_order ? *rq.photo_order : static_cast<int>(images->size());
  if (rq.is_title) {
    im.is_title = *rq.is_title;
    im.title_explicit = true;
  }
  batch.images.push_back(im);
  auto header = image::read_header(rq.bytes, rq.filename);
  batch.blobs.push_back({sha, mime_for(header ? header->format : ""), rq.bytes});
  if (auto st = store_->write(batch); !st) return st.error();
  if (auto st = store_->assign_titles({rq.listing_id}, options_.spec.id); !st) return st.error();
  auto row = store_->find_image(rq.listing_id, source, options_.spec.id);
  if (!row) return row.error();
  if (!row->has_value())
    return make_error(rq.listing_id, "the stored image is missing after its write",
                      ErrorCode::kInternal);
  if (auto st = refresh(); !st) return st.error();
  return AddImageResult{true, (*row)->id, rq.listing_id, sha, photo->tags};
}

Status Engine::remove_image(std::int64_t image_id) {
  if (auto st = ensure_loaded(); !st) return st;
  std::lock_guard wlock(write_mu_);
  auto im = store_->get_image(image_id);
  if (!im) return im.error();
  if (!im->has_value())
    return make_error("", "no image with id " + std::to_string(image_id), ErrorCode::kNotFound);
  if (auto st = store_->delete_image(image_id); !st) return st;
  if (auto st = store_->assign_titles({(*im)->listing_id}, options_.spec.id); !st) return st;
  return refresh();
}

Status Engine::remove_listing(const std::string& listing_id) {
  if (auto st = ensure_loaded(); !st) return st;
  std::lock_guard wlock(write_mu_);
  auto l = store_->get_listing(listing_id);
  if (!l) return l.error();
  if (!l->has_value())
    return make_error("", "no listing with id \"" + listing_id + "\"", ErrorCode::kNotFound);
  if (auto st = store_->delete_listing(listing_id); !st) return st;
  return refresh();
}

Result<QueryInfo> Engine::resolve(const QuerySpec& q, std::vector<float>& vector,
                                  std::unique_lock<std::mutex>* wide) {
  QueryInfo info;
  if (q.bytes) {
    auto photo = prepare(*q.bytes, q.filename, false, wide);
    if (!photo) return photo.error();
    vector = std::move(photo->embedding);
    info.tags = std::move(photo->tags);
    info.sha256 = std::move(photo->sha256);
    return info;
  }
  std::shared_lock r(catalog_mu_);
  std::int64_t image_id = -1;
  if (q.image_id) {
    image_id = *q.image_id;
    if (!catalog_.find(image_id))
      return make_error("", "no image with id " + std::to_string(image_id), ErrorCode::kNotFound);
  } else if (q.listing_id) {
    const rank::CatalogListing* l = catalog_.listing(*q.listing_id);
    if (!l || l->title_image < 0)
      return make_error("", "no listing with id \"" + *q.listing_id + "\" and a photo",
                        ErrorCode::kNotFound);
    image_id = l->title_image;
  } else {
    return make_error("", "say what to compare with: an image id, a listing id or a photo",
                      ErrorCode::kInvalidArgument);
  }
  const rank::CatalogEntry* e = catalog_.find(image_id);
  auto v = catalog_.index().vector(image_id);
  vector.assign(v.begin(), v.end());
  info.image_id = image_id;
  info.listing_id = e->image.listing_id;
  info.sha256 = e->sha256;
  info.tags = e->tags;
  return info;
}

void Engine::expand_if_outside(QueryInfo& info, std::vector<float>& vector) const {
  if (options_.expand_outside.neighbours == 0 || !rank::outside_heads_domain(info.tags)) return;
  // Neither the query's own image nor another copy of its bytes counts as a neighbour.
  vector =
      rank::expand_query(catalog_.index(), vector, options_.expand_outside, [&](std::int64_t id) {
        if (info.image_id && id == *info.image_id) return true;
        const rank::CatalogEntry* e = catalog_.find(id);
        return e && !info.sha256.empty() && e->sha256 == info.sha256;
      });
  info.expanded = true;
}

Result<SimilarAnswer> Engine::similar(const QuerySpec& query, const SimilarOptions& options) {
  const Busy busy(busy_);
  if (auto st = ensure_loaded(); !st) return st.error();
  SimilarAnswer out;
  rank::SimilarQuery q;
  auto info = resolve(query, q.vector);
  if (!info) return info.error();
  out.query = std::move(*info);
  q.image_id = out.query.image_id;
  q.listing_id = out.query.listing_id;
  q.sha256 = out.query.sha256;
  q.k = options.k;
  q.exclude_same_listing = options.exclude_same_listing;
  q.exclude_same_photo = options.exclude_same_photo;
  std::shared_lock r(catalog_mu_);
  expand_if_outside(out.query, q.vector);
  for (const index::Hit& h : rank::similar(catalog_, q)) {
    const rank::CatalogEntry* e = catalog_.find(h.id);
    SimilarItem item{h.id, h.score, e->image.listing_id, e->image.source, {}};
    if (e->listing) item.listing = e->listing->listing;
    else item.listing.id = e->image.listing_id;
    out.results.push_back(std::move(item));
  }
  return out;
}

Result<RecommendAnswer> Engine::recommend(const QuerySpec& query, rank::RecommendRequest request) {
  const Busy busy(busy_);
  if (auto st = ensure_loaded(); !st) return st.error();
  RecommendAnswer out;
  std::unique_lock<std::mutex> wide;
  auto info = resolve(query, request.query.vector, &wide);
  if (!info) return info.error();
  // The upload's forward pass has just run on the wide network's threads: the scan takes
  // them while they are awake (its OpenMP threads spin a while after a forward, and a
  // second pool of threads would have to wait for them).
  if (wide.owns_lock())
    request.run_parts = [this](std::size_t n, const std::function<void(std::size_t)>& f) {
      wide_thread_->run([&] { wide_->run_parts(n, f); });
    };
  out.query = std::move(*info);
  request.query.tags = out.query.tags;
  request.query.image_id = out.query.image_id;
  request.query.listing_id = out.query.listing_id;
  request.ann_depth = options_.ann.recommend_depth;
  std::shared_lock r(catalog_mu_);
  expand_if_outside(out.query, request.query.vector);
  rank::RecommendResult result = rank::recommend(catalog_, request);
  out.candidates = result.candidates;
  out.approximate = result.approximate;
  if (result.approximate) ++ann_recommends_;
  out.results.reserve(result.results.size());
  const auto& recs = result.results;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    // Results sit in scattered catalogue nodes: fetch a few ahead so 1,000 results
    // don't wait on memory one by one.
    if (i + 16 < recs.size()) {
      __builtin_prefetch(recs[i + 16].entry);
      __builtin_prefetch(&recs[i + 16].entry->tags);
    }
    if (i + 8 < recs.size() && recs[i + 8].entry->listing) __builtin_prefetch(recs[i + 8].entry->listing);
    const rank::Recommendation& rec = recs[i];
    const rank::CatalogEntry* e = rec.entry;
    RecommendItem item;
    item.listing_id = rec.listing_id;
    item.image_id = rec.image_id;
    item.score = rec.score;
    item.breakdown = rec.breakdown;
    if (const rank::CatalogListing* l = e->listing) {
      item.price = l->listing.price;
      item.beds = l->listing.beds;
      item.baths = l->listing.baths;
      item.area = l->listing.area;
      item.zip = l->listing.zip;
    }
    item.front = e->tags.front;
    item.style = e->tags.style;
    item.stories = e->tags.stories;
    item.room = e->tags.room;
    out.results.push_back(std::move(item));
  }
  return out;
}

ListingView Engine::listing_view(const rank::CatalogListing& l, bool with_images) const {
  ListingView v;
  v.listing = l.listing;
  v.photo_count = l.image_ids.size();
  if (l.title_image >= 0) {
    v.title_image = l.title_image;
    v.title_tags = catalog_.find(l.title_image)->tags;
  }
  if (with_images)
    for (std::int64_t id : l.image_ids)
      if (const rank::CatalogEntry* e = catalog_.find(id)) v.images.push_back({e->image, e->sha256, e->tags});
  return v;
}

Result<ListingPage> Engine::list_listings(const rank::Filters& filters, std::size_t offset,
                                          std::size_t limit) {
  if (auto st = ensure_loaded(); !st) return st.error();
  std::shared_lock r(catalog_mu_);
  std::vector<const rank::CatalogListing*> all;
  for (const auto& [id, l] : catalog_.listings())
    if (l.title_image >= 0 && (filters.empty() || filters.matches(l.listing))) all.push_back(&l);
  std::sort(all.begin(), all.end(),
            [](auto* a, auto* b) { return numeric_less(a->listing.id, b->listing.id); });
  ListingPage page;
  page.total = all.size();
  for (std::size_t i = offset; i < all.size() && i - offset < limit; ++i)
    page.listings.push_back(listing_view(*all[i], false));
  return page;
}

Result<ListingView> Engine::get_listing(const std::string& listing_id) {
  if (auto st = ensure_loaded(); !st) return st.error();
  std::shared_lock r(catalog_mu_);
  const rank::CatalogListing* l = catalog_.listing(listing_id);
  if (!l) return make_error("", "no listing with id \"" + listing_id + "\"", ErrorCode::kNotFound);
  return listing_view(*l, true);
}

Result<ImageView> Engine::get_image(std::int64_t image_id) {
  if (auto st = ensure_loaded(); !st) return st.error();
  std::shared_lock r(catalog_mu_);
  const rank::CatalogEntry* e = catalog_.find(image_id);
  if (!e) return make_error("", "no image with id " + std::to_string(image_id), ErrorCode::kNotFound);
  return ImageView{e->image, e->sha256, e->tags};
}

Result<ImageContent> Engine::image_content(std::int64_t image_id) {
  auto view = get_image(image_id);
  if (!view) return view.error();
  ImageContent out;
  out.sha256 = view->sha256;
  if (!view->image.path.empty()) {
    auto b = image::read_file(view->image.path, kMaxContentBytes);
    if (!b) return make_error("", "the photo file is no longer readable: " + b.message(), ErrorCode::kIO);
    out.bytes = std::move(*b);
  } else {
    auto blob = store_->get_blob(out.sha256);
    if (!blob) return blob.error();
    if (!blob->has_value())
      return make_error("image " + std::to_string(image_id), "the photo bytes are not stored",
                        ErrorCode::kIO);
    out.bytes = std::move((*blob)->bytes);
  }
  auto h = image::read_header(out.bytes, view->image.path);
  out.content_type = mime_for(h ? h->format : "");
  return out;
}

Result<EngineStats> Engine::stats() {
  if (auto st = ensure_loaded(); !st) return st.error();
  EngineStats s;
  std::shared_lock r(catalog_mu_);
  s.images = catalog_.size();
  s.listings = catalog_.listings().size();
  s.dim = catalog_.index().dim();
  s.change_seq = applied_seq_;
  s.refreshes = refreshes_;
  s.tags = static_cast<bool>(options_.tagger);
  if (const auto* ann = dynamic_cast<const index::AnnIndex*>(&catalog_.index())) {
    s.ann = ann->active();
    s.ann_builds = ann->builds();
    s.ann_loads = ann->loads();
  }
  s.ann_replayed = ann_replayed_;
  s.ann_recommends = ann_recommends_;
  s.wide_embeds = wide_embeds_;
  return s;
}

}  // namespace homelens::engine
