#include "identity/member.h"

#include <cctype>

#include "identity/password.h"

namespace kith::identity {
namespace {

Error Invalid(std::string_view field, std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + message,
                   "invalid_" + std::string(field));
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

std::string_view MemberStatusName(MemberStatus status) {
  return status == MemberStatus::kActive ? "active" : "disabled";
}

Result<MemberStatus> ParseMemberStatus(std::string_view name) {
  if (name == "active") return MemberStatus::kActive;
  if (name == "disabled") return MemberStatus::kDisabled;
  return Invalid("status", "must be active or disabled");
}

std::string_view VisibilityName(DirectoryVisibility visibility) {
  switch (visibility) {
    case DirectoryVisibility::kNetwork:
      return "network";
    case DirectoryVisibility::kNode:
      return "node";
    case DirectoryVisibility::kHidden:
      return "hidden";
  }
  return "node";
}

Result<DirectoryVisibility> ParseVisibility(std::string_view name) {
  if (name == "network") return DirectoryVisibility::kNetwork;
  if (name == "node") return DirectoryVisibility::kNode;
  if (name == "hidden") return DirectoryVisibility::kHidden;
  return Invalid("visibility", "must be network, node or hidden");
}

Result<std::string> NormalizeHandle(std::string_view handle) {
  if (handle.empty()) return Invalid("handle", "is required");
  if (handle.size() > kMaxHandle)
    return Invalid("handle", "must be at most " + std::to_string(kMaxHandle) + " characters");
  std::string out;
  out.reserve(handle.size());
  for (char c : handle) {
    const char l = Lower(c);
    if (!IsAlnum(l) && l != '.' && l != '-' && l != '_')
      return Invalid("handle", "may contain only letters, digits, '.', '-' and '_'");
    out += l;
  }
  if (!IsAlnum(out[0])) return Invalid("handle", "must start with a letter or digit");
  return out;
}

Result<std::string> NormalizeEmail(std::string_view email) {
  if (email.empty()) return Invalid("email", "is required");
  if (email.size() > kMaxEmail)
    return Invalid("email", "must be at most " + std::to_string(kMaxEmail) + " characters");
  const size_t at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == email.size())
    return Invalid("email", "must look like name@example.org");
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  if (local.size() > 64) return Invalid("email", "the part before '@' is longer than 64");
  static constexpr std::string_view kLocalSpecials = "!#$%&'*+-/=?^_`{|}~.";
  for (char c : local) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && kLocalSpecials.find(c) == std::string_view::npos)
      return Invalid("email", "contains a character not allowed before '@'");
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return Invalid("email", "has a misplaced '.' before '@'");
  std::string out(local);
  out += '@';
  size_t label_len = 0;
  bool has_dot = false;
  char prev = '.';
  for (char c : domain) {
    const char l = Lower(c);
    if (l == '.') {
      if (label_len == 0 || prev == '-') return Invalid("email", "has a malformed domain");
      has_dot = true;
      label_len = 0;
    } else if (IsAlnum(l) || l == '-') {
      if (label_len == 0 && l == '-') return Invalid("email", "has a malformed domain");
      if (++label_len > 63) return Invalid("email", "has a domain label longer than 63");
    } else {
      return Invalid("email", "contains a character not allowed in a domain");
    }
    prev = l;
    out += l;
  }
  if (!has_dot || label_len == 0 || prev == '-')
    return Invalid("email", "must have a domain like example.org");
  return out;
}

Status ValidateText(std::string_view field, std::string_view value, size_t max_code_points,
                    bool required, bool multiline) {
  if (required && value.empty()) return Invalid(field, "is required");
  auto points = Utf8CodePoints(value);
  if (!points) return Invalid(field, "is not valid UTF-8");
  if (*points > max_code_points)
    return Invalid(field, "must be at most " + std::to_string(max_code_points) + " characters");
  for (char c : value) {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || u == 0x7F)
      return Invalid(field, "must not contain control characters");
  }
  if (required && value.find_first_not_of(" \t") == std::string_view::npos)
    return Invalid(field, "must not be blank");
  return OkStatus();
}

Status ValidateNewMember(NewMember& member) {
  auto handle = NormalizeHandle(member.handle);
  if (!handle.ok()) return handle.error();
  member.handle = std::move(handle).value();
  KITH_RETURN_IF_ERROR(ValidateText("display_name", member.display_name, kMaxDisplayName, true));
  auto email = NormalizeEmail(member.email);
  if (!email.ok()) return email.error();
  member.email = std::move(email).value();
  KITH_RETURN_IF_ERROR(ValidateText("organisation", member.organisation, kMaxOrganisation, false));
  KITH_RETURN_IF_ERROR(ValidateText("job_title", member.job_title, kMaxJobTitle, false));
  KITH_RETURN_IF_ERROR(ValidateText("bio", member.bio, kMaxBio, false, true));
  if (!member.password_hash.empty() && member.password_hash.rfind("$argon2id$", 0) != 0)
    return Invalid("password_hash", "must be an Argon2id hash");
  return OkStatus();
}

Status ValidateProfileUpdate(ProfileUpdate& update) {
  if (update.display_name)
    KITH_RETURN_IF_ERROR(ValidateText("display_name", *update.display_name, kMaxDisplayName, true));
  if (update.email) {
    auto email = NormalizeEmail(*update.email);
    if (!email.ok()) return email.error();
    update.email = std::move(email).value();
  }
  if (update.organisation)
    KITH_RETURN_IF_ERROR(
        ValidateText("organisation", *update.organisation, kMaxOrganisation, false));
  if (update.job_title)
    KITH_RETURN_IF_ERROR(ValidateText("job_title", *update.job_title, kMaxJobTitle, false));
  if (update.bio) KITH_RETURN_IF_ERROR(ValidateText("bio", *update.bio, kMaxBio, false, true));
  return OkStatus();
}

}  // namespace kith::identity
