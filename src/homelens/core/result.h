// Errors as values at module boundaries: a Result<T> holds either a value or
// an Error whose message names the input and the reason.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace homelens {

// What kind of failure an Error is, so callers can react (the server maps each
// to one HTTP status in serve/errors.h) without parsing messages.
enum class ErrorCode {
  kInternal,         // a bug or an unexpected failure
  kNotFound,         // the named thing does not exist
  kInvalidArgument,  // the caller's input is wrong (bad request field, bad row)
  kUnsupported,      // input in a format HomeLens does not read (bytes that are no photo format)
  kUnprocessable,    // well-formed input whose content cannot be used (a photo that does not decode)
  kConflict,         // the input contradicts what is stored
  kUnavailable,      // a resource is exhausted or unreachable for now: retry later
  kCorruption,       // stored data is unreadable or of an unknown version
  kIO,               // a file or the database could not be read or written
};

// A failure with a human-readable message such as "photo.jpg: truncated JPEG".
struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kInternal;
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
  ErrorCode code() const { return error().code; }

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
  ErrorCode code() const { return error().code; }

 private:
  std::optional<Error> error_;
};

// Builds an Error from a subject (file, row, id) and a reason.
inline Error make_error(const std::string& subject, const std::string& reason,
                        ErrorCode code = ErrorCode::kInternal) {
  return Error{subject.empty() ? reason : subject + ": " + reason, code};
}

// The code's name as it appears in logs and API errors ("not_found", ...).
inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kUnprocessable: return "unprocessable";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kIO: return "io_error";
    case ErrorCode::kInternal: break;
  }
  return "internal";
}

}  // namespace homelens
