#include "homelens/index/id_selector.h"

#include "homelens/index/vector_index.h"

namespace homelens::index {

IDSelectorBitmap::IDSelectorBitmap(const VectorIndex& index)
    : index_(&index), bits_(index.row_capacity(), false) {}

bool IDSelectorBitmap::is_member(std::int64_t id) const {
  const auto row = index_->row_of(id);
  return row && contains(*row);
}

}  // namespace homelens::index
