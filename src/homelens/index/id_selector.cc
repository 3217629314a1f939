#include "homelens/index/id_selector.h"

#include "homelens/index/vector_index.h"

#include <bit>

namespace homelens::index {

IDSelectorBitmap::IDSelectorBitmap(const VectorIndex& index)
    : index_(&index), rows_(index.row_capacity()), words_((index.row_capacity() + 63) / 64, 0) {}

std::vector<std::uint32_t> IDSelectorBitmap::rows() const {
  std::vector<std::uint32_t> out;
  for (std::size_t w = 0; w < words_.size(); ++w)
    for (std::uint64_t bits = words_[w]; bits; bits &= bits - 1)
      out.push_back(static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(bits))));
  return out;
}

bool IDSelectorBitmap::is_member(std::int64_t id) const {
  const auto row = index_->row_of(id);
  return row && contains(*row);
}

}  // namespace homelens::index
