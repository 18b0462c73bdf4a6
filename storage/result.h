// Result<T> and Status: how code that can fail on input reports failure.
//
// An Error carries a coarse ErrorCode (which maps to exactly one HTTP status, in
// HttpStatusFor), a human-readable message, and an optional machine-readable reason
// (for example "signature_expired") that APIs put in their JSON "error" field.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace kith {

enum class ErrorCode {
  kInvalidArgument,       // 400: the caller sent something malformed
  kUnauthenticated,       // 401: missing or bad credentials / signature
  kPermissionDenied,      // 403: authenticated but not allowed
  kNotFound,              // 404
  kMethodNotAllowed,      // 405
  kConflict,              // 409: state does not allow this now (duplicate, wrong state)
  kTooLarge,              // 413
  kUnsupportedMediaType,  // 415
  kTooManyRequests,       // 429
  kInternal,              // 500: our bug or an unexpected library failure
  kUnavailable,           // 503: try again later (peer down, shutting down, queue full)
};

// The one place an ErrorCode becomes an HTTP status.
int HttpStatusFor(ErrorCode code);

// Stable snake_case name of a code, e.g. "invalid_argument"; used in JSON errors.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string reason;  // optional, machine-readable detail; empty means "use ErrorCodeName"

  // The value for a JSON "error" field: reason when set, else the code's name.
  std::string_view Name() const { return reason.empty() ? ErrorCodeName(code) : reason; }
};

inline Error MakeError(ErrorCode code, std::string message, std::string reason = {}) {
  return Error{code, std::move(message), std::move(reason)};
}

// Either a T or an Error. Not thread-safe; a plain value type.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT implicit
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT implicit

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT implicit

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status OkStatus() { return {}; }

}  // namespace kith

// Returns the error of a failed Status/Result expression from the enclosing function.
#define KITH_RETURN_IF_ERROR(expr)                                  \
  do {                                                              \
    auto kith_status_ = (expr);                                     \
    if (!kith_status_.ok()) return std::move(kith_status_).error(); \
  } while (0)
