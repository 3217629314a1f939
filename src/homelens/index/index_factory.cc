#include "homelens/index/index_factory.h"

#include "homelens/index/half_flat_index.h"
#include "homelens/index/kernels.h"
#include "homelens/index/refine_index.h"
#include "homelens/index/sq8_flat_index.h"

namespace homelens::index {

std::string default_index_spec() { return has_byte_kernels() ? "Refine(SQ8Flat)" : "Flat"; }

namespace {

Result<std::unique_ptr<VectorIndex>> make(std::string_view spec, std::string_view whole, std::size_t dim) {
  if (spec == "Flat") return std::unique_ptr<VectorIndex>(std::make_unique<FlatIndex>(dim));
  if (spec == "HalfFlat") {
    if (!HalfFlatIndex::supported())
      return make_error("index \"" + std::string(whole) + "\"", "HalfFlat needs a CPU with F16C",
                        ErrorCode::kUnavailable);
    return std::unique_ptr<VectorIndex>(std::make_unique<HalfFlatIndex>(dim));
  }
  if (spec == "SQ8Flat") return std::unique_ptr<VectorIndex>(std::make_unique<SQ8FlatIndex>(dim));
  constexpr std::string_view kRefine = "Refine(";
  if (spec.starts_with(kRefine) && spec.ends_with(')')) {
    auto base = make(spec.substr(kRefine.size(), spec.size() - kRefine.size() - 1), whole, dim);
    if (!base) return base.error();
    return std::unique_ptr<VectorIndex>(std::make_unique<RefineIndex>(std::move(*base)));
  }
  return make_error("index \"" + std::string(whole) + "\"",
                    "unknown kind; use Flat, HalfFlat, SQ8Flat, Refine(HalfFlat), Refine(SQ8Flat) or default",
                    ErrorCode::kInvalidArgument);
}

}  // namespace

Result<std::unique_ptr<VectorIndex>> make_index(std::string_view spec, std::size_t dim) {
  if (spec.empty() || spec == "default") return make(default_index_spec(), spec, dim);
  return make(spec, spec, dim);
}

}  // namespace homelens::index
