// CapturedFailure — an exception caught inside a commit group, kept as a value: what its caller
// will get, and what the group decides by (retry on a lock conflict, poison on an I/O error)
// without rethrowing it to classify it.
#ifndef STATESTORE_SRC_CORE_CAPTURED_FAILURE_H_
#define STATESTORE_SRC_CORE_CAPTURED_FAILURE_H_

#include <exception>
#include <optional>
#include <string>

#include "statestore/error.h"

namespace statestore::internal {

struct CapturedFailure {
  std::exception_ptr exception;
  ErrorCode code = ErrorCode::kInternal;  // kInternal: not a statestore::Error
  int engine_code = 0;                    // Error::sqlite_code(): the engine's own result code
  std::string what = "unknown error";

  // A failed write or fsync: the durable state is unknown (group_commit.h invariant 5).
  bool poisons() const { return code == ErrorCode::kIoError || code == ErrorCode::kFull; }
};

// Runs `f`; returns what it threw, if anything.
template <typename F>
std::optional<CapturedFailure> Capture(F&& f) {
  try {
    f();
    return std::nullopt;
  } catch (const Error& e) {
    return CapturedFailure{std::current_exception(), e.code(), e.sqlite_code(), e.what()};
  } catch (const std::exception& e) {
    return CapturedFailure{std::current_exception(), ErrorCode::kInternal, 0, e.what()};
  } catch (...) {
    CapturedFailure f;
    f.exception = std::current_exception();
    return f;
  }
}

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_CAPTURED_FAILURE_H_
