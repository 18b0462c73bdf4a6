// Member: a person of this node (`handle@node`), and the rules their fields must meet.
//
// Handles: 1-64 characters of a-z, 0-9, '.', '-', '_', starting with a letter or digit;
// compared case-insensitively by storing them lower-cased. Emails: a reasonable subset of
// RFC 5321 (ASCII, one '@', dotted domain), unique per node case-insensitively. Free-text
// fields are valid UTF-8 without control characters and length-limited in code points.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/result.h"

namespace kith::identity {

enum class MemberStatus { kActive, kDisabled };
// Who sees the member in the directory: the whole network, this node's members, nobody.
enum class DirectoryVisibility { kNetwork, kNode, kHidden };

std::string_view MemberStatusName(MemberStatus status);  // "active" | "disabled"
Result<MemberStatus> ParseMemberStatus(std::string_view name);
std::string_view VisibilityName(DirectoryVisibility visibility);  // "network" | "node" | "hidden"
Result<DirectoryVisibility> ParseVisibility(std::string_view name);

// Field limits, in Unicode code points (email in bytes).
inline constexpr size_t kMaxHandle = 64;
inline constexpr size_t kMaxDisplayName = 100;
inline constexpr size_t kMaxEmail = 254;
inline constexpr size_t kMaxOrganisation = 200;
inline constexpr size_t kMaxJobTitle = 200;
inline constexpr size_t kMaxBio = 2000;

// A stored member. A plain value.
struct Member {
  int64_t id = 0;
  std::string handle;  // lower-case
  std::string sub;     // stable, opaque OIDC subject
  std::string display_name;
  std::string email;
  std::string organisation;
  std::string job_title;
  std::string bio;  // short bio / expertise
  DirectoryVisibility visibility = DirectoryVisibility::kNode;
  MemberStatus status = MemberStatus::kActive;
  bool has_password = false;
  // A node administrator: may use the operator pages (/admin/network) as well as kithctl.
  bool node_admin = false;
  int64_t created_at = 0;  // unix seconds
  int64_t updated_at = 0;

  // "handle@node", e.g. "alice@council-a.example".
  std::string Address(std::string_view node_name) const {
    return handle + "@" + std::string(node_name);
  }
};

// What a new member is created from. `password_hash` is an Argon2id string (or empty for no
// password: the member cannot sign in until one is set).
struct NewMember {
  std::string handle;
  std::string display_name;
  std::string email;
  std::string organisation;
  std::string job_title;
  std::string bio;
  DirectoryVisibility visibility = DirectoryVisibility::kNode;
  std::string password_hash;
};

// A partial profile change; unset fields stay as they are.
struct ProfileUpdate {
  std::optional<std::string> display_name;
  std::optional<std::string> email;
  std::optional<std::string> organisation;
  std::optional<std::string> job_title;
  std::optional<std::string> bio;
  std::optional<DirectoryVisibility> visibility;
};

// Validates a handle and returns it lower-cased. kInvalidArgument (message names "handle").
Result<std::string> NormalizeHandle(std::string_view handle);

// Validates an email address; returns it with the domain lower-cased.
Result<std::string> NormalizeEmail(std::string_view email);

// Validates one free-text field (`field` names it in the error): UTF-8, no control characters
// (newlines allowed when `multiline`), at most `max_code_points`; `required` forbids empty.
Status ValidateText(std::string_view field, std::string_view value, size_t max_code_points,
                    bool required, bool multiline = false);

// Validates and normalises every field of `member` in place (handle lower-cased, email domain
// lower-cased). The first problem is returned, naming the field.
Status ValidateNewMember(NewMember& member);

// Validates and normalises an update in place.
Status ValidateProfileUpdate(ProfileUpdate& update);

}  // namespace kith::identity
