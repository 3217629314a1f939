// The approximate index for whole-index queries at scale: FAISS's inverted file
// with 8-bit scalar quantization (IVF + SQ8, inner product), its candidates
// re-ranked exactly on the rows of an exact index it wraps. Everything else
// (rows, vectors, candidate lists, score_rows) is the exact index's, so candidate
// lists stay exact; only search() goes approximate, and only once the index holds
// at least AnnOptions::min_rows vectors and the IVF has been built.
//
// Why IVF+SQ8 (bench/ann_bench.cc measures it against HNSW, IVF+PQ, IndexFlatIP and
// hnswlib): about 1.3 KB a 1280-d vector, top-1000 recall above 0.95 with a
// bounded scan, and real removal (remove_ids through a hash direct map), so live
// deletes need no tombstones. The probed lists are scanned by ivf_search
// (ivf_scan.h), FAISS's scores on this project's AVX2 byte kernel.
//
// The IVF is saved to a file with the store change sequence it covers; a process
// that restarts loads it and replays the changes since (sync) instead of training
// and adding everything again.
// Thread safety: as VectorIndex (build, load, sync need exclusive access too).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "homelens/index/vector_index.h"

namespace faiss {
struct Index;
}

namespace homelens::index {

struct AnnOptions {
  std::size_t min_rows = 200000;  // whole-index queries go approximate from this many vectors
  std::size_t nlist = 0;          // IVF lists; 0: about sqrt(n), at least 39 training rows a list
  std::size_t nprobe = 0;         // lists scanned a query; 0: nlist / 32, at least 16 (docs/scale.md)
  std::size_t rerank = 0;         // IVF candidates re-ranked exactly; 0: 2k + 64
  // Photos a whole-index recommend takes from the IVF (nearest by cosine) before
  // filtering and scoring them exactly; 0: such recommends scan exactly. Why this
  // many: docs/scale.md, "Recommend through the approximate index".
  std::size_t recommend_depth = 20000 + 200;
};

// What the file next to the table says it covers.
struct AnnFileInfo {
  std::int64_t seq = 0;     // the store change sequence the saved IVF reflects
  std::string tag;          // whose table it is (the model id), checked on load
};

class AnnIndex final : public VectorIndex {
 public:
  // Wraps exact, which holds exactly the vectors of `ids` (build() reads them back).
  AnnIndex(std::unique_ptr<VectorIndex> exact, AnnOptions options, std::span<const std::int64_t> ids = {});
  ~AnnIndex() override;

  std::string kind() const override { return "ANN(" + exact_->kind() + ")"; }
  std::size_t dim() const override { return exact_->dim(); }
  std::size_t size() const override { return exact_->size(); }
  // Both go to the IVF too once it is built.
  Status add(std::int64_t id, std::span<const float> vector) override;
  bool remove(std::int64_t id) override;
  void reserve(std::size_t n) override { exact_->reserve(n); }
  std::span<const float> vector(std::int64_t id) const override { return exact_->vector(id); }
  // Approximate when active(): the IVF's best candidates rescored exactly; else exact.
  std::vector<Hit> search(std::span<const float> query, std::size_t k,
                          const IDSelector* selector = nullptr) const override;
  // The ids of about the n vectors nearest query by the IVF's quantized scores, for a
  // caller that scores them exactly itself (no re-ranking here), only ids the selector
  // accepts (nullptr: all). Probes enough lists to hold about 2n accepted vectors, given
  // that `members` of the index's vectors are accepted (0: all). Empty when not active().
  std::vector<std::int64_t> nearest_ids(std::span<const float> query, std::size_t n,
                                        const IDSelector* selector = nullptr, std::size_t members = 0) const;
  std::vector<Hit> search_among(std::span<const float> query, std::span<const std::int64_t> ids,
                                std::size_t k, const IDSelector* selector = nullptr) const override {
    return exact_->search_among(query, ids, k, selector);
  }
  std::vector<Hit> search_candidates(std::span<const float> query, std::size_t k, float margin,
                                     const IDSelector* selector) const override {
    return exact_->search_candidates(query, k, margin, selector);
  }
  std::optional<std::uint32_t> row_of(std::int64_t id) const override { return exact_->row_of(id); }
  std::size_t row_capacity() const override { return exact_->row_capacity(); }
  float error_bound() const override { return exact_->error_bound(); }
  float score_rows(std::span<const float> query, std::span<const std::uint32_t> rows, float* out,
                   Pass pass) const override {
    return exact_->score_rows(query, rows, out, pass);
  }

  const AnnOptions& options() const { return options_; }
  bool built() const { return ivf_ != nullptr; }
  // Whether search() answers from the IVF.
  bool active() const { return built() && size() >= options_.min_rows; }
  // Vectors in the IVF (equals size() when in step).
  std::size_t ivf_size() const;
  // Trains the IVF on the exact vectors and adds them all (replacing any built one).
  Status build();
  // Writes the IVF and info to path (atomically: a temporary file, then rename).
  // kUnavailable when nothing is built; kIO when the file cannot be written.
  Status save(const std::string& path, const AnnFileInfo& info) const;
  // Reads a saved IVF (replacing any built one) and returns what it covers.
  // kNotFound when there is no file; kCorruption for an unreadable file or one of
  // another dimension or tag.
  Result<AnnFileInfo> load(const std::string& path, const std::string& tag);
  // Brings id's IVF entry in line with the exact index (re-added if there, removed
  // if not): what a restart does for each image changed since the saved sequence.
  void sync(std::int64_t id);

  // How the IVF came to be, for logs and tests.
  std::uint64_t builds() const { return builds_; }
  std::uint64_t loads() const { return loads_; }
  // Changes applied (sync, add, remove) since the last build, load or save.
  std::uint64_t unsaved() const { return unsaved_; }

 private:
  void ivf_add(std::int64_t id, std::span<const float> vector);
  void ivf_remove(std::int64_t id);
  std::size_t default_nprobe(std::size_t nlist) const {
    return options_.nprobe ? options_.nprobe : std::max<std::size_t>(16, nlist / 32);
  }

  std::unique_ptr<VectorIndex> exact_;
  AnnOptions options_;
  std::unique_ptr<faiss::Index> ivf_;
  std::unordered_set<std::int64_t> ids_;  // every id in exact_, for build()
  std::uint64_t builds_ = 0, loads_ = 0;
  mutable std::atomic<std::uint64_t> unsaved_{0};
};

}  // namespace homelens::index
