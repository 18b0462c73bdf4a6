#include "node/multipart.h"

#include <algorithm>
#include <cctype>

namespace kith::node {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Error Bad(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), "bad_multipart");
}

// Parameters of a header value "type; a=b; c=\"d\"": the type and the (name, value) pairs with
// lower-cased names and unquoted values. nullopt when malformed.
struct HeaderValue {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* Param(std::string_view name) const {
    for (const auto& [n, v] : params) {
      if (n == name) return &v;
    }
    return nullptr;
  }
};

std::optional<HeaderValue> ParseHeaderValue(std::string_view in) {
  HeaderValue out;
  size_t i = in.find(';');
  std::string_view type = Trim(in.substr(0, i));
  for (char c : type) out.type += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (i == std::string_view::npos) return out;
  i += 1;
  while (i < in.size()) {
    while (i < in.size() && (in[i] == ' ' || in[i] == '\t' || in[i] == ';')) ++i;
    if (i >= in.size()) break;
    size_t eq = in.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name;
    for (char c : Trim(in.substr(i, eq - i)))
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.empty()) return std::nullopt;
    i = eq + 1;
    while (i < in.size() && (in[i] == ' ' || in[i] == '\t')) ++i;
    std::string value;
    if (i < in.size() && in[i] == '"') {
      ++i;
      bool closed = false;
      while (i < in.size()) {
        char c = in[i++];
        // Browsers send a backslash in a filename as is (only '"' is escaped, as %22), so
        // a backslash escapes only '"' and '\\'.
        if (c == '\\' && i < in.size() && (in[i] == '"' || in[i] == '\\')) {
          value += in[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      size_t end = in.find(';', i);
      value = std::string(Trim(in.substr(i, end == std::string_view::npos ? end : end - i)));
      i = end == std::string_view::npos ? in.size() : end;
    }
    out.params.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

// RFC 5987 ext-value "UTF-8''percent-encoded" -> the decoded value, or nullopt.
std::optional<std::string> DecodeExtValue(std::string_view v) {
  size_t q = v.find("''");
  if (q == std::string_view::npos || !IEquals(v.substr(0, q), "utf-8")) return std::nullopt;
  return PercentDecode(v.substr(q + 2));
}

// The last path component (some clients send "C:\dir\name.pdf"), without control characters.
std::string CleanFilename(std::string_view name) {
  if (auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  std::string out;
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) continue;
    out += c;
  }
  return out;
}

bool ValidBoundary(std::string_view b) {
  // RFC 2046: 1..70 characters of bchars, not ending in a space.
  static constexpr std::string_view kExtra = "'()+_,-./:=? ";
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string_view::npos;
  });
}

}  // namespace

Result<std::unique_ptr<MultipartSink>> MultipartSink::Create(std::string_view content_type,
                                                             FileBytes file_bytes,
                                                             MultipartLimits limits) {
  auto value = ParseHeaderValue(content_type);
  if (!value || value->type != "multipart/form-data") {
    return MakeError(ErrorCode::kUnsupportedMediaType,
                     "expected Content-Type multipart/form-data with a boundary",
                     "unsupported_media_type");
  }
  const std::string* boundary = value->Param("boundary");
  if (boundary == nullptr) {
    return Bad("multipart/form-data without a boundary parameter");
  }
  if (!ValidBoundary(*boundary)) {
    return Bad(
        "malformed multipart boundary (1-70 characters of letters, digits and '()+_,-./:=? ')");
  }
  return std::unique_ptr<MultipartSink>(
      new MultipartSink(*boundary, std::move(file_bytes), limits));
}

MultipartSink::MultipartSink(std::string boundary, FileBytes file_bytes, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), file_bytes_(std::move(file_bytes)), limits_(limits) {
  // The first delimiter may start the body: pretend a CRLF came before it.
  pending_ = "\r\n";
}

Status MultipartSink::Fail(Error error) {
  state_ = State::kFailed;
  pending_.clear();
  return error;
}

Status MultipartSink::Write(std::string_view chunk) {
  if (state_ == State::kFailed) return Bad("multipart body already failed");
  if (state_ == State::kDone) return OkStatus();  // epilogue: ignored
  pending_.append(chunk);
  return Process();
}

Status MultipartSink::Process() {
  for (;;) {
    switch (state_) {
      case State::kPreamble: {
        size_t at = pending_.find(delimiter_);
        if (at == std::string::npos) {
          // Keep what could be the start of a delimiter.
          size_t keep = std::min(pending_.size(), delimiter_.size() - 1);
          preamble_seen_ += pending_.size() - keep;
          pending_.erase(0, pending_.size() - keep);
          if (preamble_seen_ > limits_.max_preamble_bytes) {
            return Fail(Bad("no multipart boundary in the first " +
                            std::to_string(limits_.max_preamble_bytes) + " bytes of the body"));
          }
          return OkStatus();
        }
        pending_.erase(0, at + delimiter_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kAfterDelimiter: {
        if (pending_.size() < 2) return OkStatus();
        if (pending_.compare(0, 2, "--") == 0) {
          state_ = State::kDone;
          pending_.clear();
          return OkStatus();
        }
        // Transport padding (spaces, tabs), then CRLF.
        size_t i = 0;
        while (i < pending_.size() && (pending_[i] == ' ' || pending_[i] == '\t')) ++i;
        if (i > 256) return Fail(Bad("malformed multipart delimiter line"));
        if (pending_.size() < i + 2) return OkStatus();
        if (pending_.compare(i, 2, "\r\n") != 0) {
          return Fail(Bad("malformed multipart delimiter line (expected CRLF after the boundary)"));
        }
        pending_.erase(0, i + 2);
        if (++parts_ > limits_.max_parts) {
          return Fail(Bad("more than " + std::to_string(limits_.max_parts) + " multipart parts"));
        }
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        size_t end;
        size_t skip;
        if (pending_.compare(0, 2, "\r\n") == 0) {
          end = 0;  // no headers at all
          skip = 2;
        } else {
          end = pending_.find("\r\n\r\n");
          skip = 4;
        }
        if (end == std::string::npos) {
          if (pending_.size() > limits_.max_header_bytes) {
            return Fail(Bad("multipart part headers larger than " +
                            std::to_string(limits_.max_header_bytes) + " bytes"));
          }
          return OkStatus();
        }
        if (end > limits_.max_header_bytes) {
          return Fail(Bad("multipart part headers larger than " +
                          std::to_string(limits_.max_header_bytes) + " bytes"));
        }
        Status started = StartPart(std::string_view(pending_).substr(0, end));
        if (!started.ok()) return Fail(std::move(started).error());
        pending_.erase(0, end + skip);
        state_ = State::kData;
        break;
      }
      case State::kData: {
        size_t at = pending_.find(delimiter_);
        if (at == std::string::npos) {
          // Everything but a possible delimiter start belongs to the part.
          size_t keep = std::min(pending_.size(), delimiter_.size() - 1);
          size_t emit = pending_.size() - keep;
          if (emit > 0) {
            Status s = PartData(std::string_view(pending_).substr(0, emit));
            if (!s.ok()) return Fail(std::move(s).error());
            pending_.erase(0, emit);
          }
          return OkStatus();
        }
        Status s = PartData(std::string_view(pending_).substr(0, at));
        if (!s.ok()) return Fail(std::move(s).error());
        s = EndPart();
        if (!s.ok()) return Fail(std::move(s).error());
        pending_.erase(0, at + delimiter_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kDone:
        pending_.clear();
        return OkStatus();
      case State::kFailed:
        return Bad("multipart body already failed");
    }
  }
}

Status MultipartSink::StartPart(std::string_view headers) {
  std::optional<HeaderValue> disposition;
  std::string content_type;
  while (!headers.empty()) {
    size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Bad("malformed multipart part header line (expected \"Name: value\")");
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = Trim(line.substr(colon + 1));
    for (char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return Bad("control character in a multipart part header");
      }
    }
    if (IEquals(name, "content-disposition")) {
      disposition = ParseHeaderValue(value);
      if (!disposition) return Bad("malformed Content-Disposition in a multipart part");
    } else if (IEquals(name, "content-type")) {
      content_type = std::string(value);
    }
  }
  if (!disposition || disposition->type != "form-data") {
    return Bad("multipart part without \"Content-Disposition: form-data\"");
  }
  const std::string* name = disposition->Param("name");
  if (name == nullptr || name->empty()) return Bad("multipart part without a name");
  const std::string* filename = disposition->Param("filename");
  const std::string* filename_ext = disposition->Param("filename*");
  if (filename != nullptr || filename_ext != nullptr) {
    if (file_) return Bad("more than one file in the form (send exactly one file part)");
    std::string chosen = filename ? *filename : std::string();
    if (filename_ext != nullptr) {
      auto decoded = DecodeExtValue(*filename_ext);
      if (!decoded) return Bad("malformed filename* in a multipart part");
      chosen = *decoded;
    }
    file_.emplace();
    file_->field_name = *name;
    file_->filename = CleanFilename(chosen);
    file_->content_type = content_type;
    in_file_ = true;
  } else {
    in_file_ = false;
    field_name_ = *name;
    field_value_.clear();
    field_bytes_ += name->size();
    if (field_bytes_ > limits_.max_field_bytes) {
      return MakeError(
          ErrorCode::kTooLarge,
          "form fields larger than " + std::to_string(limits_.max_field_bytes) + " bytes",
          "fields_too_large");
    }
  }
  return OkStatus();
}

Status MultipartSink::PartData(std::string_view bytes) {
  if (bytes.empty()) return OkStatus();
  if (in_file_) {
    file_->size += static_cast<int64_t>(bytes.size());
    return file_bytes_ ? file_bytes_(bytes) : OkStatus();
  }
  field_bytes_ += bytes.size();
  if (field_bytes_ > limits_.max_field_bytes) {
    return MakeError(
        ErrorCode::kTooLarge,
        "form fields larger than " + std::to_string(limits_.max_field_bytes) + " bytes",
        "fields_too_large");
  }
  field_value_.append(bytes);
  return OkStatus();
}

Status MultipartSink::EndPart() {
  if (!in_file_) fields_.emplace_back(std::move(field_name_), std::move(field_value_));
  field_name_.clear();
  field_value_.clear();
  in_file_ = false;
  return OkStatus();
}

Status MultipartSink::Finish() {
  if (state_ == State::kFailed) return Bad("multipart body already failed");
  if (state_ != State::kDone) {
    return Fail(Bad("multipart body ended before its closing boundary"));
  }
  return OkStatus();
}

std::optional<std::string> MultipartSink::Field(std::string_view name) const {
  for (const auto& [n, v] : fields_) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace kith::node
