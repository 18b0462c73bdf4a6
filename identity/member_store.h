// MemberStore: the members table (and retired_subs). All member SQL lives here.
//
// Writes follow identity/write_result.h: `void Op(args..., Done<T> done)` runs as one Writer
// job; `done` gets the result on the writer thread once durable. Reads run synchronously on a
// pooled reader connection (Store::Read) and return Result<T>. Thread-safe: any thread may
// call any method; the Store and Clock must outlive the MemberStore.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/member.h"
#include "identity/write_result.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace kith::identity {

// One page of a member listing, ordered by id.
struct MemberPage {
  std::vector<Member> members;
  int64_t next_after = 0;  // pass as `after_id` for the next page; 0 when this was the last
};

// A CSV row rejected by an import: the physical line it starts on, and why.
struct RejectedRow {
  size_t line = 0;
  std::string handle;
  std::string reason;
};

// The outcome of an import. Either every row was imported (committed) or none was.
struct ImportReport {
  size_t rows = 0;      // data rows read
  size_t imported = 0;  // rows inserted (0 unless committed)
  bool committed = false;
  std::vector<RejectedRow> rejected;
  // One line for an operator, e.g. "imported 2000 members" or "3 of 2000 rows rejected;
  // nothing was imported".
  std::string Summary() const;
};

class MemberStore {
 public:
  MemberStore(storage::Store& store, const Clock& clock);

  // Validates (ValidateNewMember) and inserts a member with a fresh random sub.
  // kInvalidArgument naming the field; kConflict ("handle is taken" / "email is in use").
  void Add(NewMember member, Done<Member> done);

  // Applies a profile change. kNotFound, kInvalidArgument, kConflict (email in use).
  void UpdateProfile(int64_t id, ProfileUpdate update, Done<Member> done);

  // Disables or enables a member. Disabling also deletes every session of the member in the
  // same transaction. kNotFound.
  void SetStatus(int64_t id, MemberStatus status, Done<Member> done);

  // Grants (true) or revokes (false) node administration (members.node_admin). kNotFound.
  void SetNodeAdmin(int64_t id, bool node_admin, Done<Member> done);

  // Replaces the password hash (an Argon2id string from PasswordHasher; empty clears it).
  // kNotFound. Sessions are left alone: the caller decides (RevokeAll for a reset).
  void SetPasswordHash(int64_t id, std::string password_hash, Done<void> done);

  // Replaces the hash only if it still equals `expected_hash` (for the upgrade on sign-in, so
  // that a concurrent password change wins). Answers whether it replaced it.
  void UpgradePasswordHash(int64_t id, std::string expected_hash, std::string new_hash,
                           Done<bool> done);

  // Deletes a member (sessions go with it) and retires its sub for good. kNotFound.
  void Remove(int64_t id, Done<void> done);

  // Inserts validated rows in ONE job, all or nothing: rows whose handle or email already
  // exist are reported and then nothing is written. `first_lines` gives each row's line number
  // for the report (same size as rows, or empty). Rows must have passed ValidateNewMember.
  void InsertAll(std::vector<NewMember> rows, std::vector<size_t> lines, Done<ImportReport> done);

  // Reads. kNotFound when there is no such member; lookups by handle and email are
  // case-insensitive.
  Result<Member> GetById(int64_t id);
  Result<Member> GetByHandle(std::string_view handle);
  Result<Member> GetBySub(std::string_view sub);
  Result<Member> GetByEmail(std::string_view email);

  // The stored Argon2id hash, empty when none is set. kNotFound.
  Result<std::string> PasswordHash(int64_t id);

  // Members with id > after_id, at most `limit` (1..1000).
  Result<MemberPage> List(int64_t after_id, size_t limit);

  Result<int64_t> Count();

  // Called (on the writer thread, after `done`) whenever Add, UpdateProfile, SetStatus,
  // Remove or InsertAll succeeded, so that a module to the right (the directory, which
  // identity may not call) can follow member changes. Set once before the store is shared
  // between threads; must not block.
  void SetOnChange(std::function<void()> on_change) { on_change_ = std::move(on_change); }

 private:
  // `done`, then on_change_ when the write succeeded.
  template <class T>
  Done<T> Notifying(Done<T> done) {
    return [this, done = std::move(done)](Result<T> result) {
      const bool ok = result.ok();
      done(std::move(result));
      if (ok && on_change_) on_change_();
    };
  }

  storage::Store& store_;
  const Clock& clock_;
  std::function<void()> on_change_;
};

}  // namespace kith::identity
