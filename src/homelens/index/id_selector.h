// Which ids a search may return, as FAISS's IDSelector: a batch of ids, everything
// but some ids, or a bitmap over an index's rows for hot paths. Callers may
// subclass IDSelector for other rules.
//
// Thread safety: is_member and is_member_row may be called concurrently; the
// mutators (IDSelectorBitmap::insert) need exclusive access.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <unordered_set>
#include <vector>

namespace homelens::index {

class VectorIndex;

class IDSelector {
 public:
  virtual ~IDSelector() = default;
  // Whether id may be returned.
  virtual bool is_member(std::int64_t id) const = 0;
  // The same for an id whose row the index knows: a bitmap answers from the row
  // without looking the id up.
  virtual bool is_member_row(std::uint32_t /*row*/, std::int64_t id) const { return is_member(id); }
};

// Exactly the given ids.
class IDSelectorBatch final : public IDSelector {
 public:
  explicit IDSelectorBatch(std::span<const std::int64_t> ids) : ids_(ids.begin(), ids.end()) {}
  bool is_member(std::int64_t id) const override { return ids_.count(id) != 0; }

 private:
  std::unordered_set<std::int64_t> ids_;
};

// Every id except the given ones (the query photo, its listing's photos, ...).
class IDSelectorAllBut final : public IDSelector {
 public:
  explicit IDSelectorAllBut(std::span<const std::int64_t> ids) : ids_(ids.begin(), ids.end()) {}
  bool is_member(std::int64_t id) const override { return ids_.count(id) == 0; }

 private:
  std::unordered_set<std::int64_t> ids_;
};

// A set of rows of one index, a bit each: as cheap to fill and test as a
// vector<bool> over row_capacity() rows, so a request can mark thousands of
// candidate rows. Rows past the size it was made with are not members. The index
// must outlive it and not change while it is used.
class IDSelectorBitmap final : public IDSelector {
 public:
  // Empty, sized to index.row_capacity().
  explicit IDSelectorBitmap(const VectorIndex& index);
  // Adds row; false when it was already there (or is out of range).
  bool insert(std::uint32_t row) {
    if (row >= rows_) return false;
    std::uint64_t& word = words_[row >> 6];
    const std::uint64_t bit = std::uint64_t{1} << (row & 63);
    if (word & bit) return false;
    word |= bit;
    return true;
  }
  // As insert, where other threads may be calling insert_shared at the same time (never
  // insert); what they added is seen by contains() and rows() once they are joined.
  bool insert_shared(std::uint32_t row) {
    if (row >= rows_) return false;
    const std::uint64_t bit = std::uint64_t{1} << (row & 63);
    return (std::atomic_ref<std::uint64_t>(words_[row >> 6]).fetch_or(bit, std::memory_order_relaxed) & bit) == 0;
  }
  bool contains(std::uint32_t row) const { return row < rows_ && (words_[row >> 6] >> (row & 63) & 1) != 0; }
  // The rows inserted, ascending: a candidate list in the order the matrix is laid out,
  // in time linear in the index's rows / 64 instead of a sort.
  std::vector<std::uint32_t> rows() const;
  // Looks the id's row up in the index.
  bool is_member(std::int64_t id) const override;
  bool is_member_row(std::uint32_t row, std::int64_t) const override { return contains(row); }

 private:
  const VectorIndex* index_;
  std::size_t rows_;
  std::vector<std::uint64_t> words_;
};

}  // namespace homelens::index
