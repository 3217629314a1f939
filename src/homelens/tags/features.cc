#include "homelens/tags/features.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "homelens/image/decode.h"
#include "homelens/model/embedder.h"
#include "homelens/store/store.h"

namespace homelens::tags {

namespace {

constexpr char kFlipMagic[] = "homelens-flip-cache-1\n";

// The number of vectors a photo has under spec: the embedding, and the heads' view if it differs.
std::size_t views(const model::ModelSpec& spec) { return spec.head_view.empty() ? 1 : 2; }

// The mirrored embeddings of one model in a cache file: magic line, model id line, then
// records of 64 hex characters (photo sha256) and dim x views(spec) float32 values.
std::map<std::string, std::vector<float>> read_flip_cache(const std::string& path,
                                                          const model::ModelSpec& spec) {
  std::map<std::string, std::vector<float>> out;
  std::ifstream in(path, std::ios::binary);
  std::string magic(sizeof kFlipMagic - 1, '\0'), model;
  if (!in || !in.read(magic.data(), static_cast<std::streamsize>(magic.size())) ||
      magic != kFlipMagic || !std::getline(in, model) || model != spec.id)
    return out;  // missing, foreign or another model's: rebuilt from scratch
  const std::size_t dim = static_cast<std::size_t>(spec.embedding_dim) * views(spec);
  std::string sha(64, '\0');
  std::vector<float> v(dim);
  while (in.read(sha.data(), 64) && in.read(reinterpret_cast<char*>(v.data()),
                                            static_cast<std::streamsize>(dim * sizeof(float))))
    out[sha] = v;
  return out;
}

void write_flip_cache(const std::string& path, const model::ModelSpec& spec,
                      const std::map<std::string, std::vector<float>>& rows) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(kFlipMagic, sizeof kFlipMagic - 1);
    out << spec.id << "\n";
    for (const auto& [sha, v] : rows) {
      if (sha.size() != 64 ||
          v.size() != static_cast<std::size_t>(spec.embedding_dim) * views(spec))
        continue;
      out.write(sha.data(), 64);
      out.write(reinterpret_cast<const char*>(v.data()),
                static_cast<std::streamsize>(v.size() * sizeof(float)));
    }
    if (!out) return;  // a cache that cannot be written is only a slower next run
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
}

}  // namespace

Result<Features> embed_paths(const std::vector<std::string>& paths, const model::ModelSpec& spec,
                             const FeatureOptions& options) {
  Features out;
  const std::size_t n = paths.size();
  std::vector<std::string> bytes(n);
  out.sha256.resize(n);
  std::vector<std::vector<float>> rows(n);
  out.errors.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto b = image::read_file(paths[i], 64u << 20);
    if (!b) {
      if (!options.keep_going) return b.error();
      out.errors[i] = b.message();
      continue;
    }
    out.sha256[i] = image::sha256_hex(*b);
    bytes[i] = std::move(*b);
  }
  std::map<std::string, std::vector<float>> flip_cache;
  if (options.flip && !options.flip_cache.empty()) {
    flip_cache = read_flip_cache(options.flip_cache, spec);
    for (std::size_t i = 0; i < n; ++i) {
      auto it = flip_cache.find(out.sha256[i]);
      if (!out.errors[i].empty() || it == flip_cache.end()) continue;
      rows[i] = it->second;
      bytes[i].clear();
      ++out.from_cache;
    }
  }
  if (!options.db.empty() && !options.flip) {
    auto store = store::open_store(options.db);
    if (!store) return store.error();
    for (std::size_t i = 0; i < n; ++i) {
      auto p = (*store)->get_photo(out.sha256[i], spec.id);
      if (!p) return p.error();
      const std::size_t dim = static_cast<std::size_t>(spec.embedding_dim);
      if (p->has_value() && (*p)->embedding.size() == dim &&
          (views(spec) == 1 || (*p)->head_embedding.size() == dim)) {
        rows[i] = std::move((*p)->embedding);
        rows[i].insert(rows[i].end(), (*p)->head_embedding.begin(), (*p)->head_embedding.end());
        bytes[i].clear();
        ++out.from_cache;
      }
    }
  }
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < n; ++i)
    if (rows[i].empty() && out.errors[i].empty()) todo.push_back(i);
  if (!todo.empty()) {
    int workers = options.workers > 0
                      ? options.workers
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    workers = static_cast<int>(std::min<std::size_t>(workers, todo.size()));
    std::vector<model::Embedder> embedders;
    for (int w = 0; w < workers; ++w) {
      auto e = model::Embedder::open(spec, {1, false});
      if (!e) return e.error();
      embedders.push_back(std::move(*e));
    }
    std::atomic<std::size_t> next{0};
    std::mutex mu;
    std::optional<Error> failure;
    Progress progress("embedding", todo.size(), options.progress);
    std::atomic<std::size_t> done{0};
    constexpr std::size_t kBatch = 8;
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        for (;;) {
          const std::size_t b = next.fetch_add(kBatch);
          if (b >= todo.size()) return;
          {
            std::lock_guard lock(mu);
            if (failure) return;
          }
          const std::size_t e = std::min(todo.size(), b + kBatch);
          std::vector<cv::Mat> pix;
          std::vector<std::size_t> owner;
          image::DecodeOptions dopt;
          dopt.min_shorter_side = embedders[w].min_decode_side();
          for (std::size_t j = b; j < e; ++j) {
            auto d = image::decode(bytes[todo[j]], paths[todo[j]], dopt);
            if (!d) {
              std::lock_guard lock(mu);
              if (!options.keep_going) {
                if (!failure) failure = d.error();
                return;
              }
              out.errors[todo[j]] = d.message();
              continue;
            }
            if (options.flip) cv::flip(d->rgb, d->rgb, 1);
            pix.push_back(std::move(d->rgb));
            owner.push_back(todo[j]);
          }
          if (!pix.empty()) {
            auto emb = embedders[w].embed(pix);
            if (!emb) {
              std::lock_guard lock(mu);
              if (!failure) failure = emb.error();
              return;
            }
            for (std::size_t j = 0; j < owner.size(); ++j) {
              auto& e = (*emb)[j];
              rows[owner[j]] = std::move(e.vector);
              rows[owner[j]].insert(rows[owner[j]].end(), e.head_vector.begin(),
                                    e.head_vector.end());
            }
          }
          done += e - b;
          std::lock_guard lock(mu);
          progress.update(done.load());
        }
      });
    }
    for (auto& t : threads) t.join();
    progress.finish();
    if (failure) return *failure;
    for (std::size_t i : todo) out.embedded += out.errors[i].empty();
    if (options.flip && !options.flip_cache.empty() && out.embedded > 0) {
      for (std::size_t i : todo)
        if (out.errors[i].empty()) flip_cache[out.sha256[i]] = rows[i];
      write_flip_cache(options.flip_cache, spec, flip_cache);
    }
  }
  const std::size_t dim = static_cast<std::size_t>(spec.embedding_dim);
  out.x.rows = n;
  out.x.cols = dim;
  out.x.data.resize(n * dim);
  if (views(spec) == 2) {
    out.heads.rows = n;
    out.heads.cols = dim;
    out.heads.data.resize(n * dim);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!out.errors[i].empty()) continue;
    if (rows[i].size() != dim * views(spec))
      return make_error(paths[i], "embedding has " + std::to_string(rows[i].size()) +
                                      " values, model " + spec.id + " gives " +
                                      std::to_string(dim * views(spec)));
    std::copy(rows[i].begin(), rows[i].begin() + static_cast<std::ptrdiff_t>(dim), out.x.row(i));
    if (views(spec) == 2)
      std::copy(rows[i].begin() + static_cast<std::ptrdiff_t>(dim), rows[i].end(),
                out.heads.row(i));
  }
  return out;
}

}  // namespace homelens::tags
