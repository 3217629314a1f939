// FAISS's IVF + SQ8 search with the list scan done by this project's byte kernel.
// Debian builds FAISS for baseline x86-64, so its SQ8 scanner decodes one value at a
// time; an SQ8 code is a byte a value on per-dimension ranges, so q . decode(code) is
// a constant plus a dot product of the bytes with a rescaled query, which
// index::dot_block_u8 computes with AVX2 straight from FAISS's inverted lists. The
// index stays FAISS's (training, assignment, storage, add, remove, save, load); the
// scores equal FAISS's up to float rounding.
// Thread safety: as FAISS's (concurrent const calls are fine; ivf_shrink_to_fit needs
// exclusive access).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "homelens/index/vector_index.h"

namespace faiss {
struct Index;
}

namespace homelens::index {

// Whether ivf_search can scan this index itself: an inner-product IVF with 8-bit
// per-dimension SQ codes (the factory's "IVFn,SQ8") on a CPU with the byte kernels.
bool ivf_scan_supported(const faiss::Index& ivf);

// The `want` best ids by the IVF's quantized scores (best first, ties by smaller id)
// among the `nprobe` lists nearest the query, only ids the selector accepts (nullptr:
// all). Falls back to FAISS's own search when !ivf_scan_supported(ivf).
std::vector<Hit> ivf_search(const faiss::Index& ivf, std::span<const float> query, std::size_t want,
                            std::size_t nprobe, const IDSelector* selector = nullptr);

// Releases the spare room FAISS's growing lists keep (a list grows one entry at a time,
// so up to half of its memory can be slack). For an index built or loaded in one go.
void ivf_shrink_to_fit(faiss::Index& ivf);

// Bytes the IVF's structure holds: list codes and ids (as allocated), the id -> list
// direct map (a hash table, estimated at a bucket and a 32-byte node an entry) and the
// centroids.
std::size_t ivf_bytes(const faiss::Index& ivf);

}  // namespace homelens::index
