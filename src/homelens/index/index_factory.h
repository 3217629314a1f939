// One place that picks a VectorIndex implementation from a spec string, in the
// style of FAISS's index_factory:
//   "Flat"              exact float rows (FlatIndex)
//   "HalfFlat"          half-precision rows, approximate (HalfFlatIndex; CPUs with F16C)
//   "SQ8Flat"           8-bit rows, approximate with a per-scan bound (SQ8FlatIndex)
//   "Refine(BASE)"      BASE rescored exactly by a Flat (RefineIndex), e.g. "Refine(SQ8Flat)"
//   "" or "default"     default_index_spec()
// Thread safety: the functions are safe to call concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "homelens/index/vector_index.h"

namespace homelens::index {

// "Refine(SQ8Flat)" where the CPU has AVX2, FMA and F16C (candidate scans read a quarter of
// the bytes, answers stay exact), else "Flat".
std::string default_index_spec();

// A new empty index of the given dimension. Errors: kInvalidArgument for a spec
// that is not one of the above (the message quotes it), kUnavailable for HalfFlat
// on a CPU without F16C.
Result<std::unique_ptr<VectorIndex>> make_index(std::string_view spec, std::size_t dim);

}  // namespace homelens::index
