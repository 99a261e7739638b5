#include "statestore/error.h"

namespace statestore {

std::string_view ToString(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBusy:
      return "busy";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kCorruption:
      return "corruption";
    case ErrorCode::kIoError:
      return "io_error";
    case ErrorCode::kFull:
      return "full";
    case ErrorCode::kReadOnly:
      return "read_only";
    case ErrorCode::kSchemaTooNew:
      return "schema_too_new";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kCommitUnknown:
      return "commit_unknown";
  }
  return "unknown";
}

Error::Error(ErrorCode code, const std::string& message, int sqlite_code)
    : std::runtime_error(message), code_(code), sqlite_code_(sqlite_code) {}

}  // namespace statestore
