// Errors as values at module boundaries: a Result<T> holds either a value or
// an Error whose message names the input and the reason.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace homelens {

// A failure with a human-readable message such as "photo.jpg: truncated JPEG".
struct Error {
  std::string message;
};

// Either a value or an Error. Accessing value() of an error result is a bug.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}        // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  const std::string& message() const { return error().message; }

 private:
  std::variant<T, Error> v_;
};

// The result of an operation that returns nothing.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT
  static Status Ok() { return {}; }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(!ok()); return *error_; }
  const std::string& message() const { return error().message; }

 private:
  std::optional<Error> error_;
};

// Builds an Error from a subject (file, row, id) and a reason.
inline Error make_error(const std::string& subject, const std::string& reason) {
  return Error{subject.empty() ? reason : subject + ": " + reason};
}

}  // namespace homelens
