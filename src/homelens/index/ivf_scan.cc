#include "homelens/index/ivf_scan.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/InvertedLists.h>

#include <algorithm>

#include "homelens/index/id_selector.h"
#include "homelens/index/kernels.h"

namespace homelens::index {

namespace {

using idx_t = faiss::Index::idx_t;

const faiss::IndexIVFScalarQuantizer* sq8_ivf(const faiss::Index& ivf) {
  const auto* iv = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(&ivf);
  if (!iv || iv->metric_type != faiss::METRIC_INNER_PRODUCT || iv->sq.qtype != faiss::ScalarQuantizer::QT_8bit ||
      iv->code_size != static_cast<std::size_t>(iv->d) || iv->sq.trained.size() != 2 * static_cast<std::size_t>(iv->d))
    return nullptr;
  return iv;
}

// A HomeLens selector seen through FAISS's interface, for the fallback.
struct FaissSelector final : faiss::IDSelector {
  explicit FaissSelector(const index::IDSelector* s) : sel(s) {}
  bool is_member(idx_t id) const override { return sel->is_member(id); }
  const index::IDSelector* sel;
};

std::vector<Hit> faiss_search(const faiss::Index& ivf, std::span<const float> query, std::size_t want,
                              std::size_t nprobe, const IDSelector* selector) {
  faiss::SearchParametersIVF params;
  params.nprobe = nprobe;
  FaissSelector sel(selector);
  if (selector) params.sel = &sel;
  std::vector<float> scores(want);
  std::vector<idx_t> labels(want);
  ivf.search(1, query.data(), static_cast<idx_t>(want), scores.data(), labels.data(), &params);
  std::vector<Hit> out;
  for (std::size_t j = 0; j < want; ++j)
    if (labels[j] >= 0) out.push_back({labels[j], scores[j]});
  return out;
}

}  // namespace

bool ivf_scan_supported(const faiss::Index& ivf) { return has_byte_kernels() && sq8_ivf(ivf) != nullptr; }

std::vector<Hit> ivf_search(const faiss::Index& ivf, std::span<const float> query, std::size_t want,
                            std::size_t nprobe, const IDSelector* selector) {
  if (want == 0 || query.size() != static_cast<std::size_t>(ivf.d)) return {};
  const faiss::IndexIVFScalarQuantizer* iv = has_byte_kernels() ? sq8_ivf(ivf) : nullptr;
  if (!iv) return faiss_search(ivf, query, want, nprobe, selector);
  const std::size_t d = query.size();
  nprobe = std::clamp<std::size_t>(nprobe, 1, iv->nlist);
  std::vector<float> coarse(nprobe);
  std::vector<idx_t> lists(nprobe);
  iv->quantizer->search(1, query.data(), static_cast<idx_t>(nprobe), coarse.data(), lists.data());
  // FAISS decodes byte c of dimension i as vmin[i] + (c + 0.5) / 255 * vdiff[i] (a residual
  // from the list's centroid when by_residual), so q . decode(code) = base + sum(scaled[i] * c[i]).
  const float* vmin = iv->sq.trained.data();
  const float* vdiff = vmin + d;
  std::vector<float> scaled(d);
  double base = 0;
  for (std::size_t i = 0; i < d; ++i) {
    scaled[i] = query[i] * vdiff[i] / 255.0f;
    base += static_cast<double>(query[i]) * (vmin[i] + 0.5f * vdiff[i] / 255.0f);
  }
  TopK top(want);
  std::vector<float> scores;
  for (std::size_t p = 0; p < nprobe; ++p) {
    if (lists[p] < 0) continue;
    const auto list = static_cast<std::size_t>(lists[p]);
    const std::size_t n = iv->invlists->list_size(list);
    if (n == 0) continue;
    faiss::InvertedLists::ScopedCodes codes(iv->invlists, list);
    faiss::InvertedLists::ScopedIds ids(iv->invlists, list);
    scores.resize(n);
    dot_block_u8(scaled.data(), codes.get(), d, n, scores.data());
    // The coarse score is q . centroid: the part of q . x that the residual code leaves out.
    const auto offset = static_cast<float>(base + (iv->by_residual ? coarse[p] : 0.0f));
    for (std::size_t j = 0; j < n; ++j) {
      const float s = scores[j] + offset;
      if (top.full() && s < top.threshold()) continue;
      const std::int64_t id = ids[j];
      if (selector && !selector->is_member(id)) continue;
      top.push({id, s});
    }
  }
  return top.take();
}

void ivf_shrink_to_fit(faiss::Index& ivf) {
  auto* iv = faiss::ivflib::try_extract_index_ivf(&ivf);
  auto* lists = iv ? dynamic_cast<faiss::ArrayInvertedLists*>(iv->invlists) : nullptr;
  if (!lists) return;
  for (auto& c : lists->codes) c.shrink_to_fit();
  for (auto& i : lists->ids) i.shrink_to_fit();
}

std::size_t ivf_bytes(const faiss::Index& ivf) {
  const auto* iv = faiss::ivflib::try_extract_index_ivf(const_cast<faiss::Index*>(&ivf));
  if (!iv) return 0;
  std::size_t bytes = 0;
  if (const auto* lists = dynamic_cast<const faiss::ArrayInvertedLists*>(iv->invlists)) {
    for (const auto& c : lists->codes) bytes += c.capacity();
    for (const auto& i : lists->ids) bytes += i.capacity() * sizeof(idx_t);
  }
  bytes += iv->direct_map.array.capacity() * sizeof(idx_t);
  if (const auto& h = iv->direct_map.hashtable; !h.empty()) bytes += h.bucket_count() * sizeof(void*) + h.size() * 32;
  bytes += static_cast<std::size_t>(iv->quantizer->ntotal) * static_cast<std::size_t>(iv->d) * sizeof(float);
  return bytes;
}

}  // namespace homelens::index
