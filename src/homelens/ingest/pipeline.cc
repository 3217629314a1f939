#include "homelens/ingest/pipeline.h"

#include <chrono>
#include <filesystem>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "homelens/model/embedding.h"

namespace homelens::ingest {

namespace {

enum class Outcome { kIndexed, kReused, kPresent, kFailed };

struct ItemResult {
  Outcome outcome = Outcome::kFailed;
  std::string reason;
  std::optional<store::Photo> photo;  // only for kIndexed
  store::Image image;
};

struct ChunkResult {
  std::vector<ItemResult> items;
  std::string fatal;  // model failure: the whole run stops
};

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

// One worker's share: read, hash, skip what is stored, decode and embed the rest.
ChunkResult process_chunk(const std::vector<Item>& items, std::size_t begin, std::size_t end,
                          store::Store& store, model::Embedder& embedder,
                          const PipelineOptions& opt) {
  ChunkResult out;
  out.items.resize(end - begin);
  const std::string& model_id = embedder.spec().id;
  image::DecodeOptions dopt = opt.decode;
  if (dopt.min_shorter_side == 0) dopt.min_shorter_side = embedder.min_decode_side();

  std::vector<cv::Mat> pixels;
  std::vector<std::size_t> pixel_owner;
  std::unordered_map<std::string, std::size_t> first_with_sha;  // within this chunk
  for (std::size_t i = begin; i < end; ++i) {
    const Item& item = items[i];
    ItemResult& r = out.items[i - begin];
    auto bytes = image::read_file(item.path, dopt.max_bytes);
    if (!bytes) {
      r.reason = bytes.message();
      continue;
    }
    const std::string sha = image::sha256_hex(*bytes);
    r.image = image_row(item, sha);
    auto existing = store.find_image(item.listing.id, item.source, model_id);
    if (existing && existing->has_value() && (*existing)->sha256 == sha) {
      r.outcome = Outcome::kPresent;
      continue;
    }
    auto has = store.has_photo(sha, model_id);
    if (has && *has) {
      r.outcome = Outcome::kReused;
      continue;
    }
    if (first_with_sha.count(sha)) {
      r.outcome = Outcome::kReused;
      continue;
    }
    auto decoded = image::decode(*bytes, item.path, dopt);
    if (!decoded) {
      r.reason = decoded.message();
      continue;
    }
    first_with_sha[sha] = i - begin;
    store::Photo photo;
    photo.sha256 = sha;
    photo.model_id = model_id;
    photo.width = decoded->width;
    photo.height = decoded->height;
    r.photo = std::move(photo);
    pixels.push_back(std::move(decoded->rgb));
    pixel_owner.push_back(i - begin);
  }
  for (std::size_t b = 0; b < pixels.size(); b += opt.batch_size) {
    const std::size_t e = std::min(pixels.size(), b + opt.batch_size);
    std::vector<cv::Mat> batch(pixels.begin() + b, pixels.begin() + e);
    auto emb = embedder.embed(batch);
    if (!emb) {
      out.fatal = emb.message();
      return out;
    }
    for (std::size_t j = b; j < e; ++j) {
      ItemResult& r = out.items[pixel_owner[j]];
      if (opt.tagger) opt.tagger((*emb)[j - b], r.photo->tags);  // before the vector moves out
      r.photo->embedding = std::move((*emb)[j - b].vector);
      r.outcome = Outcome::kIndexed;
    }
  }
  return out;
}

}  // namespace

Result<IndexSummary> index_items(const std::vector<Item>& items, store::Store& store,
                                 const model::ModelSpec& spec, const PipelineOptions& options) {
  PipelineOptions opt = options;
  if (opt.workers <= 0) opt.workers = std::max(1u, std::thread::hardware_concurrency());
  if (opt.batch_size <= 0) opt.batch_size = 16;
  const auto t0 = std::chrono::steady_clock::now();

  IndexSummary summary;
  summary.total = items.size();
  const std::size_t chunk = static_cast<std::size_t>(opt.batch_size);
  const std::size_t nchunks = (items.size() + chunk - 1) / chunk;
  opt.workers = static_cast<int>(std::min<std::size_t>(opt.workers, std::max<std::size_t>(nchunks, 1)));

  std::vector<model::Embedder> embedders;
  for (int w = 0; w < opt.workers; ++w) {
    auto e = model::Embedder::open(spec, {opt.threads_per_worker, true});
    if (!e) return e.error();
    embedders.push_back(std::move(*e));
  }
  auto centres = store.get_centres(spec.id);
  if (!centres) return centres.error();

  std::mutex mu;
  std::condition_variable ready;
  std::map<std::size_t, ChunkResult> done_chunks;
  std::atomic<std::size_t> next_chunk{0};
  std::atomic<bool> abort{false};
  int workers_left = opt.workers;
  auto stopped = [&] { return abort.load() || (opt.stop && opt.stop->load()); };

  std::vector<std::thread> threads;
  for (int w = 0; w < opt.workers; ++w) {
    threads.emplace_back([&, w] {
      for (;;) {
        if (stopped()) break;
        const std::size_t c = next_chunk.fetch_add(1);
        if (c >= nchunks) break;
        ChunkResult r = process_chunk(items, c * chunk, std::min(items.size(), (c + 1) * chunk),
                                      store, embedders[w], opt);
        std::lock_guard lock(mu);
        done_chunks.emplace(c, std::move(r));
        ready.notify_all();
      }
      std::lock_guard lock(mu);
      --workers_left;
      ready.notify_all();
    });
  }

  Progress progress("indexing", items.size(), opt.progress);
  store::WriteBatch batch;
  std::size_t processed = 0;
  std::optional<Error> fatal;
  auto flush = [&]() -> bool {
    if (batch.images.empty() && batch.listings.empty()) return true;
    if (auto st = store.write(batch); !st) {
      fatal = st.error();
      return false;
    }
    batch = {};
    return true;
  };

  for (std::size_t c = 0; c < nchunks && !fatal; ++c) {
    ChunkResult r;
    {
      std::unique_lock lock(mu);
      ready.wait(lock, [&] { return done_chunks.count(c) || workers_left == 0; });
      auto it = done_chunks.find(c);
      if (it == done_chunks.end()) break;  // stopped before this chunk ran
      r = std::move(it->second);
      done_chunks.erase(it);
    }
    if (!r.fatal.empty()) {
      fatal = Error{r.fatal};
      break;
    }
    const std::size_t base = c * chunk;
    for (std::size_t i = 0; i < r.items.size(); ++i) {
      ItemResult& ir = r.items[i];
      const Item& item = items[base + i];
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
          if (*centres) ir.photo->code = model::binary_code(ir.photo->embedding, **centres);
          batch.photos.push_back(std::move(*ir.photo));
          break;
      }
      batch.listings.push_back(item.listing);
      batch.images.push_back(std::move(ir.image));
    }
    processed += r.items.size();
    if (batch.images.size() >= opt.commit_every && !flush()) break;
    progress.update(processed);
  }
  if (!fatal) flush();
  abort = true;
  for (auto& t : threads) t.join();
  progress.finish();
  if (fatal) return *fatal;
  summary.interrupted = processed < items.size();
  if (auto st = ensure_codes(store, spec.id); !st) return st.error();
  // Title photos depend on every photo of a listing, so they are chosen once the run is stored.
  std::vector<std::string> listings;
  {
    std::unordered_map<std::string, bool> seen;
    for (std::size_t i = 0; i < std::min(processed, items.size()); ++i)
      if (seen.emplace(items[i].listing.id, true).second) listings.push_back(items[i].listing.id);
  }
  if (auto st = store.assign_titles(listings, spec.id); !st) return st.error();
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
