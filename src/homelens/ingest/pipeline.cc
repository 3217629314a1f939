#include "homelens/ingest/pipeline.h"

#include <tbb/concurrent_queue.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

#include "homelens/core/cpu.h"
#include "homelens/core/log.h"
#include "homelens/ingest/prepare.h"
#include "homelens/model/embedding.h"

namespace homelens::ingest {

namespace {

enum class Outcome { kIndexed, kReused, kPresent, kFailed };

struct ItemResult {
  Outcome outcome = Outcome::kFailed;
  std::string reason;
  std::string bytes;                  // read in order, released once decoded
  std::optional<store::Photo> photo;  // only for kIndexed
  std::string tag_failure;            // kIndexed but left untagged, and why
  store::Image image;
};

// The pipeline's token: a run of consecutive items.
struct Chunk {
  std::size_t begin = 0;
  std::vector<ItemResult> items;
  std::optional<Error> fatal;  // model failure: the whole run stops
  StageSeconds times;          // this chunk's, summed into the run's in the serial store stage
};

using Clock = std::chrono::steady_clock;

// Seconds from t to now, and t moved to now: consecutive stages timed with one clock read each.
double lap(Clock::time_point& t) {
  const auto now = Clock::now();
  const double s = std::chrono::duration<double>(now - t).count();
  t = now;
  return s;
}

store::Image image_row(const Item& item, const std::string& sha) {
  store::Image im;
  im.listing_id = item.listing.id;
  im.source = item.source;
  im.path = std::filesystem::absolute(item.path).lexically_normal().string();
  im.sha256 = sha;
  im.photo_order = item.photo_order;
  im.is_title = item.is_title.value_or(item.photo_order == 0);
  im.title_explicit = item.is_title.has_value();
  im.extra = item.extra;
  return im;
}

// A chunk's parallel part: hash, skip what is stored, decode and embed the rest.
void process_chunk(Chunk& chunk, const std::vector<Item>& items, store::Store& store,
                   model::Embedder& embedder, const std::vector<float>* centres,
                   const PipelineOptions& opt) {
  const std::string& model_id = embedder.spec().id;
  const int min_side =
      opt.decode.min_shorter_side > 0 ? opt.decode.min_shorter_side : embedder.min_decode_side();
  std::vector<DecodedPhoto> decoded;
  std::vector<std::size_t> owner;
  std::unordered_map<std::string, std::size_t> first_with_sha;  // within this chunk
  StageSeconds& times = chunk.times;
  for (std::size_t i = 0; i < chunk.items.size(); ++i) {
    ItemResult& r = chunk.items[i];
    if (!r.reason.empty()) continue;  // unreadable
    const Item& item = items[chunk.begin + i];
    const std::string bytes = std::move(r.bytes);
    auto t = Clock::now();
    std::string sha = image::sha256_hex(bytes);
    r.image = image_row(item, sha);
    auto existing = store.find_image(item.listing.id, item.source, model_id);
    if (existing && existing->has_value() && (*existing)->sha256 == sha) {
      r.outcome = Outcome::kPresent;
      times.hash += lap(t);
      continue;
    }
    auto has = store.has_photo(sha, model_id);
    times.hash += lap(t);
    if ((has && *has) || first_with_sha.count(sha)) {
      r.outcome = Outcome::kReused;
      continue;
    }
    auto photo = decode_photo(bytes, item.path, opt.decode, min_side, std::move(sha));
    times.decode += lap(t);
    if (!photo) {
      r.reason = photo.message();
      continue;
    }
    first_with_sha[photo->sha256] = i;
    decoded.push_back(std::move(*photo));
    owner.push_back(i);
  }
  std::vector<std::string> tag_failures;
  auto photos = embed_photos(decoded, embedder, model_id, opt.tagger, centres, &tag_failures, &times);
  if (!photos) {
    chunk.fatal = photos.error();
    return;
  }
  for (std::size_t j = 0; j < owner.size(); ++j) {
    ItemResult& r = chunk.items[owner[j]];
    r.photo = std::move((*photos)[j]);
    r.tag_failure = std::move(tag_failures[j]);
    r.outcome = Outcome::kIndexed;
  }
}

// Single-threaded networks shared by the pipeline's parallel stage: one is taken for a
// chunk and given back after it. There are as many as the arena has threads, so a take
// never waits in practice; the queue only makes that a guarantee rather than an assumption.
class EmbedderPool {
 public:
  explicit EmbedderPool(std::vector<model::Embedder>& embedders) {
    for (auto& e : embedders) free_.push(&e);
  }
  template <class F>
  void with(F&& f) {
    model::Embedder* e = nullptr;
    free_.pop(e);
    f(*e);
    free_.push(e);
  }

 private:
  tbb::concurrent_bounded_queue<model::Embedder*> free_;
};

}  // namespace

Result<IndexSummary> index_items(const std::vector<Item>& items, store::Store& store,
                                 const model::ModelSpec& spec, const PipelineOptions& options) {
  PipelineOptions opt = options;
  // Workers beyond the usable cores only take turns on them: measured, one mpirun rank with
  // two workers indexed 62 photos/s bound to a core and 122 with --bind-to none.
  const unsigned cores = usable_cores();
  if (opt.workers <= 0) opt.workers = static_cast<int>(cores);
  if (const unsigned machine = std::thread::hardware_concurrency(); cores < machine)
    log::warn("this process may run on " + std::to_string(cores) + " of the machine's " + std::to_string(machine) +
                  " cores (a binding by its launcher); its workers share them. Under mpirun, --bind-to none "
                  "or a --map-by that gives each rank its cores lets them spread",
              {{"cores", cores}, {"machine_cores", machine}, {"workers", opt.workers}});
  if (opt.batch_size <= 0) opt.batch_size = 16;
  const auto t0 = std::chrono::steady_clock::now();

  IndexSummary summary;
  summary.total = items.size();
  const std::size_t chunk = static_cast<std::size_t>(opt.batch_size);
  const std::size_t nchunks = (items.size() + chunk - 1) / chunk;
  opt.workers = static_cast<int>(std::min<std::size_t>(opt.workers, std::max<std::size_t>(nchunks, 1)));
  if (opt.chunks_in_flight <= 0) opt.chunks_in_flight = 2 * opt.workers;

  std::vector<model::Embedder> embedders;
  for (int w = 0; w < opt.workers; ++w) {
    auto e = model::Embedder::open(spec, {opt.threads_per_worker, true});
    if (!e) return e.error();
    embedders.push_back(std::move(*e));
  }
  EmbedderPool pool(embedders);
  auto centres = store.get_centres(spec.id);
  if (!centres) return centres.error();
  const std::vector<float>* centres_ptr = centres->has_value() ? &**centres : nullptr;

  Progress progress("indexing", items.size(), opt.progress);
  store::WriteBatch batch;
  std::size_t next_chunk = 0, processed = 0;
  std::optional<Error> fatal;
  std::atomic<bool> abort{false};
  auto flush = [&]() -> bool {
    if (batch.images.empty() && batch.listings.empty()) return true;
    auto t = Clock::now();
    const auto st = store.write(batch);
    summary.stages.store += lap(t);
    if (!st) {
      fatal = st.error();
      return false;
    }
    batch = {};
    return true;
  };

  // Reads one chunk's files, in source order.
  auto read = [&](tbb::flow_control& fc) -> std::shared_ptr<Chunk> {
    if (next_chunk >= nchunks || abort.load() || (opt.stop && opt.stop->load())) {
      fc.stop();
      return nullptr;
    }
    auto c = std::make_shared<Chunk>();
    auto t = Clock::now();
    c->begin = next_chunk++ * chunk;
    c->items.resize(std::min(items.size(), c->begin + chunk) - c->begin);
    for (std::size_t i = 0; i < c->items.size(); ++i) {
      auto bytes = image::read_file(items[c->begin + i].path, opt.decode.max_bytes);
      if (bytes) c->items[i].bytes = std::move(*bytes);
      else c->items[i].reason = bytes.message();
    }
    c->times.read += lap(t);
    return c;
  };
  auto embed = [&](std::shared_ptr<Chunk> c) {
    if (!abort.load())
      pool.with([&](model::Embedder& e) { process_chunk(*c, items, store, e, centres_ptr, opt); });
    return c;
  };
  // Stores one chunk's rows, in source order.
  auto commit = [&](std::shared_ptr<Chunk> c) {
    summary.stages += c->times;
    if (fatal) return;
    if (c->fatal) {
      fatal = c->fatal;
      abort = true;
      return;
    }
    for (std::size_t i = 0; i < c->items.size(); ++i) {
      ItemResult& ir = c->items[i];
      const Item& item = items[c->begin + i];
      switch (ir.outcome) {
        case Outcome::kFailed:
          ++summary.failed;
          summary.failures.push_back({item.source, ir.reason});
          continue;
        case Outcome::kPresent:
          // Rewriting an unchanged row would only burn an AUTOINCREMENT id.
          ++summary.already_present;
          batch.listings.push_back(item.listing);
          continue;
        case Outcome::kReused: ++summary.reused; break;
        case Outcome::kIndexed:
          ++summary.indexed;
          if (!ir.tag_failure.empty()) {
            ++summary.untagged;
            summary.tag_failures.push_back({item.source, ir.tag_failure});
          }
          batch.photos.push_back(std::move(*ir.photo));
          break;
      }
      batch.listings.push_back(item.listing);
      batch.images.push_back(std::move(ir.image));
    }
    processed += c->items.size();
    if (batch.images.size() >= opt.commit_every && !flush()) {
      abort = true;
      return;
    }
    progress.update(processed);
    if (opt.processed) opt.processed->store(processed);
  };

  {
    // More workers than cores is allowed (slow disks); TBB's default would cap it.
    tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                                static_cast<std::size_t>(opt.workers));
    tbb::task_arena arena(opt.workers);
    arena.execute([&] {
      tbb::parallel_pipeline(
          static_cast<std::size_t>(opt.chunks_in_flight),
          tbb::make_filter<void, std::shared_ptr<Chunk>>(tbb::filter_mode::serial_in_order, read) &
              tbb::make_filter<std::shared_ptr<Chunk>, std::shared_ptr<Chunk>>(
                  tbb::filter_mode::parallel, embed) &
              tbb::make_filter<std::shared_ptr<Chunk>, void>(tbb::filter_mode::serial_in_order,
                                                             commit));
    });
  }
  if (!fatal) flush();
  progress.finish();
  if (fatal) return *fatal;
  summary.interrupted = processed < items.size();
  auto finishing = Clock::now();  // codes and titles: database work after the last chunk
  if (auto st = ensure_codes(store, spec.id); !st) return st.error();
  // Title photos depend on every photo of a listing, so they are chosen once the run is stored.
  std::vector<std::string> listings;
  {
    std::unordered_map<std::string, bool> seen;
    for (std::size_t i = 0; i < std::min(processed, items.size()); ++i)
      if (seen.emplace(items[i].listing.id, true).second) listings.push_back(items[i].listing.id);
  }
  if (auto st = store.assign_titles(listings, spec.id); !st) return st.error();
  summary.stages.store += lap(finishing);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

Status ensure_codes(store::Store& store, const std::string& model_id) {
  auto centres = store.get_centres(model_id);
  if (!centres) return centres.error();
  if (centres->has_value()) return store.fill_missing_codes(model_id);
  std::vector<float> rows;
  std::size_t n = 0, dim = 0;
  std::unordered_map<std::string, bool> seen;
  auto st = store.scan(model_id, [&](const store::ImageWithPhoto& r) {
    if (!seen.emplace(r.photo.sha256, true).second) return;
    dim = r.photo.embedding.size();
    rows.insert(rows.end(), r.photo.embedding.begin(), r.photo.embedding.end());
    ++n;
  });
  if (!st) return st;
  if (n == 0) return {};
  return store.set_centres_and_codes(model_id, model::compute_centres(rows, n, dim));
}

}  // namespace homelens::ingest
