#include "homelens/index/ann_index.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "homelens/index/id_selector.h"
#include "homelens/index/ivf_scan.h"

namespace homelens::index {

namespace {

using idx_t = faiss::Index::idx_t;
constexpr char kMagic[8] = {'H', 'L', 'A', 'N', 'N', '0', '0', '1'};

faiss::IndexIVF& ivf_of(faiss::Index& index) { return *faiss::ivflib::extract_index_ivf(&index); }

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace

AnnIndex::AnnIndex(std::unique_ptr<VectorIndex> exact, AnnOptions options, std::span<const std::int64_t> ids)
    : exact_(std::move(exact)), options_(options), ids_(ids.begin(), ids.end()) {}

AnnIndex::~AnnIndex() = default;

std::size_t AnnIndex::ivf_size() const { return ivf_ ? static_cast<std::size_t>(ivf_->ntotal) : 0; }

void AnnIndex::ivf_add(std::int64_t id, std::span<const float> vector) {
  const idx_t fid = id;
  ivf_->add_with_ids(1, vector.data(), &fid);
}

void AnnIndex::ivf_remove(std::int64_t id) {
  const idx_t fid = id;
  ivf_->remove_ids(faiss::IDSelectorArray(1, &fid));
}

Status AnnIndex::add(std::int64_t id, std::span<const float> vector) {
  const bool replacing = exact_->row_of(id).has_value();
  if (auto st = exact_->add(id, vector); !st) return st;
  ids_.insert(id);
  if (ivf_) {
    if (replacing) ivf_remove(id);
    ivf_add(id, vector);
    ++unsaved_;
  }
  return {};
}

bool AnnIndex::remove(std::int64_t id) {
  if (!exact_->remove(id)) return false;
  ids_.erase(id);
  if (ivf_) {
    ivf_remove(id);
    ++unsaved_;
  }
  return true;
}

void AnnIndex::sync(std::int64_t id) {
  if (!ivf_) return;
  ivf_remove(id);
  if (auto v = exact_->vector(id); !v.empty()) ivf_add(id, v);
  ++unsaved_;
}

Status AnnIndex::build() {
  const std::size_t n = ids_.size();
  const std::size_t d = dim();
  if (n == 0 || d == 0)
    return make_error("approximate index", "nothing to build it from", ErrorCode::kUnavailable);
  // About sqrt(n) lists (1,000 at 1M, where bench/ann_bench measured recall@1000 0.97
  // probing 32 of 1,024), few enough that k-means has ~39 training rows per centroid
  // (FAISS warns below that) and trains in under a minute at 1M.
  std::size_t nlist = options_.nlist;
  if (nlist == 0)
    nlist = std::max<std::size_t>(1, std::min<std::size_t>(
                                         static_cast<std::size_t>(std::sqrt(static_cast<double>(n))), n / 39));
  std::vector<float> data(n * d);
  std::vector<idx_t> fids;
  fids.reserve(n);
  for (std::int64_t id : ids_) {
    auto v = exact_->vector(id);
    std::copy(v.begin(), v.end(), data.begin() + static_cast<std::ptrdiff_t>(fids.size() * d));
    fids.push_back(id);
  }
  std::string factory = "IVF";
  factory += std::to_string(nlist);
  factory += ",SQ8";
  try {
    std::unique_ptr<faiss::Index> ivf(
        faiss::index_factory(static_cast<int>(d), factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    ivf_of(*ivf).set_direct_map_type(faiss::DirectMap::Hashtable);
    // k-means on a sample is as good as on everything at these sizes and much faster.
    const std::size_t train_n = std::min<std::size_t>(n, nlist * 64);
    ivf->train(static_cast<idx_t>(train_n), data.data());
    ivf->add_with_ids(static_cast<idx_t>(n), data.data(), fids.data());
    ivf_shrink_to_fit(*ivf);
    ivf_ = std::move(ivf);
  } catch (const faiss::FaissException& e) {
    return make_error("approximate index " + factory, e.what(), ErrorCode::kInternal);
  }
  ++builds_;
  unsaved_ = 0;
  return {};
}

std::vector<Hit> AnnIndex::search(std::span<const float> query, std::size_t k,
                                  const IDSelector* selector) const {
  if (!active()) return exact_->search(query, k, selector);
  if (query.size() != dim() || k == 0) return {};
  const std::size_t want = options_.rerank ? std::max(options_.rerank, k) : 2 * k + 64;
  // The selector is applied in the scan, so what the caller excludes does not leave
  // the answer short.
  const std::vector<Hit> hits = ivf_search(*ivf_, query, want, default_nprobe(ivf_of(*ivf_).nlist), selector);
  // The SQ8 scores only pick candidates; the answer is scored on the exact rows.
  std::vector<std::uint32_t> rows;
  std::vector<std::int64_t> ids;
  rows.reserve(want);
  ids.reserve(want);
  for (const Hit& h : hits)
    if (auto row = exact_->row_of(h.id)) {
      rows.push_back(*row);
      ids.push_back(h.id);
    }
  std::vector<float> exact(rows.size());
  exact_->score_rows(query, rows, exact.data(), Pass::kExact);
  TopK top(k);
  for (std::size_t j = 0; j < rows.size(); ++j) top.push({ids[j], exact[j]});
  return top.take();
}

std::vector<std::int64_t> AnnIndex::nearest_ids(std::span<const float> query, std::size_t n,
                                                const IDSelector* selector, std::size_t members) const {
  if (!active() || query.size() != dim() || n == 0) return {};
  auto& ivf = ivf_of(*ivf_);
  // A deep query needs more lists than the default probe: enough that, at the mean
  // list length and the selector's share, the probed lists hold twice n accepted vectors.
  const std::size_t lists = ivf.nlist;
  const std::size_t total = std::max<std::size_t>(1, ivf_size());
  members = members == 0 ? total : std::min(members, total);
  const double share = 2.0 * static_cast<double>(n) / static_cast<double>(members);
  const std::size_t nprobe = std::min(
      lists, std::max(default_nprobe(lists), static_cast<std::size_t>(std::ceil(share * static_cast<double>(lists)))));
  std::vector<std::int64_t> out;
  for (const Hit& h : ivf_search(*ivf_, query, std::min(n, members), nprobe, selector)) out.push_back(h.id);
  return out;
}

Status AnnIndex::save(const std::string& path, const AnnFileInfo& info) const {
  if (!ivf_) return make_error(path, "no approximate index built to save", ErrorCode::kUnavailable);
  const std::string tmp = path + ".tmp";
  {
    File f(std::fopen(tmp.c_str(), "wb"));
    if (!f) return make_error(path, "cannot write the approximate index", ErrorCode::kIO);
    const std::uint64_t tag_size = info.tag.size();
    const std::uint64_t d = dim();
    bool ok = std::fwrite(kMagic, sizeof kMagic, 1, f.get()) == 1 &&
              std::fwrite(&info.seq, sizeof info.seq, 1, f.get()) == 1 &&
              std::fwrite(&d, sizeof d, 1, f.get()) == 1 &&
              std::fwrite(&tag_size, sizeof tag_size, 1, f.get()) == 1 &&
              std::fwrite(info.tag.data(), 1, info.tag.size(), f.get()) == info.tag.size();
    try {
      if (ok) faiss::write_index(ivf_.get(), f.get());
    } catch (const faiss::FaissException&) {
      ok = false;
    }
    ok = ok && std::fflush(f.get()) == 0;
    if (!ok) {
      f.reset();
      std::filesystem::remove(tmp);
      return make_error(path, "cannot write the approximate index", ErrorCode::kIO);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return make_error(path, "cannot write the approximate index: " + ec.message(), ErrorCode::kIO);
  unsaved_ = 0;
  return {};
}

Result<AnnFileInfo> AnnIndex::load(const std::string& path, const std::string& tag) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) return make_error(path, "no saved approximate index", ErrorCode::kNotFound);
  char magic[sizeof kMagic];
  AnnFileInfo info;
  std::uint64_t d = 0, tag_size = 0;
  if (std::fread(magic, sizeof magic, 1, f.get()) != 1 || !std::equal(magic, magic + sizeof magic, kMagic) ||
      std::fread(&info.seq, sizeof info.seq, 1, f.get()) != 1 || std::fread(&d, sizeof d, 1, f.get()) != 1 ||
      std::fread(&tag_size, sizeof tag_size, 1, f.get()) != 1 || tag_size > 4096)
    return make_error(path, "not a HomeLens approximate index", ErrorCode::kCorruption);
  info.tag.resize(tag_size);
  if (std::fread(info.tag.data(), 1, tag_size, f.get()) != tag_size)
    return make_error(path, "not a HomeLens approximate index", ErrorCode::kCorruption);
  if (info.tag != tag)
    return make_error(path, "was saved for \"" + info.tag + "\", not \"" + tag + "\"", ErrorCode::kCorruption);
  if (d != dim())
    return make_error(path, "holds " + std::to_string(d) + "-d vectors, the table " + std::to_string(dim()),
                      ErrorCode::kCorruption);
  try {
    std::unique_ptr<faiss::Index> ivf(faiss::read_index(f.get()));
    auto* iv = faiss::ivflib::try_extract_index_ivf(ivf.get());
    if (!iv || ivf->d != static_cast<int>(d) || ivf->metric_type != faiss::METRIC_INNER_PRODUCT)
      return make_error(path, "is not an inner-product IVF index", ErrorCode::kCorruption);
    if (iv->direct_map.type != faiss::DirectMap::Hashtable) iv->set_direct_map_type(faiss::DirectMap::Hashtable);
    ivf_ = std::move(ivf);
  } catch (const faiss::FaissException& e) {
    return make_error(path, std::string("unreadable approximate index: ") + e.what(), ErrorCode::kCorruption);
  }
  ++loads_;
  unsaved_ = 0;
  return info;
}

}  // namespace homelens::index
