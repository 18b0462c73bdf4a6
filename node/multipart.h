// MultipartSink: a streaming multipart/form-data parser (RFC 7578, RFC 2046 section 5.1) that
// is a BodySink, so that a large upload goes straight to its destination and is never held
// whole in memory.
//
// Exactly one part may be a file (a part whose Content-Disposition has a `filename`): its
// bytes are handed, in order and in pieces, to the `file_bytes` callback given at creation.
// Every other part is a small text field kept in memory (names and values together at most
// MultipartLimits::max_field_bytes). The preamble and the epilogue are ignored.
//
// Errors (kInvalidArgument unless said otherwise; the message says what was wrong):
//   Create: not multipart/form-data (kUnsupportedMediaType), no or a malformed boundary.
//   Write/Finish: malformed or oversized part headers, a part without a form-data
//   Content-Disposition or a name, a second file part, too many parts, fields over their
//   limit (kTooLarge), a body that ends before the closing delimiter; and whatever
//   `file_bytes` returns (e.g. kTooLarge from groups::Upload). After an error the sink is
//   unusable.
//
// Thread-safety: one sink is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node/router.h"
#include "storage/result.h"

namespace kith::node {

struct MultipartLimits {
  size_t max_field_bytes = 64 * 1024;     // all non-file parts' names and values together
  size_t max_header_bytes = 8 * 1024;     // one part's header block
  size_t max_parts = 32;                  // parts in the body
  size_t max_preamble_bytes = 64 * 1024;  // bytes before the first delimiter
};

// The file part's header information.
struct MultipartFile {
  std::string field_name;    // the part's `name`
  std::string filename;      // the last path component, control characters removed
  std::string content_type;  // the part's Content-Type, empty when absent
  int64_t size = 0;          // bytes handed to file_bytes
};

class MultipartSink final : public BodySink {
 public:
  using FileBytes = std::function<Status(std::string_view bytes)>;

  // `content_type` is the request's Content-Type header value.
  static Result<std::unique_ptr<MultipartSink>> Create(std::string_view content_type,
                                                       FileBytes file_bytes,
                                                       MultipartLimits limits = {});

  Status Write(std::string_view chunk) override;
  Status Finish() override;

  // After Finish: the file part, or nullptr when the body had none.
  const MultipartFile* file() const { return file_ ? &*file_ : nullptr; }
  // The value of the first field `name`, or nullopt.
  std::optional<std::string> Field(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kData, kDone, kFailed };

  MultipartSink(std::string boundary, FileBytes file_bytes, MultipartLimits limits);
  Status Fail(Error error);
  Status Process();
  Status StartPart(std::string_view headers);
  Status PartData(std::string_view bytes);
  Status EndPart();

  std::string delimiter_;  // "\r\n--" + boundary
  FileBytes file_bytes_;
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  std::string pending_;  // received, not yet processed
  size_t preamble_seen_ = 0;
  size_t parts_ = 0;
  size_t field_bytes_ = 0;
  bool in_file_ = false;  // the current part is the file part
  std::string field_name_;
  std::string field_value_;
  std::optional<MultipartFile> file_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace kith::node
