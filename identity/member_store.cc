#include "identity/member_store.h"

#include <sodium.h>

#include <algorithm>
#include <unordered_set>

#include "identity/jwk.h"

namespace kith::identity {
namespace {

using storage::Database;
using storage::Statement;

constexpr std::string_view kColumns =
    "id, handle, sub, display_name, email, organisation, job_title, bio, visibility, status, "
    "password_hash IS NOT NULL AND password_hash <> '', created_at, updated_at, node_admin";

using storage::StatementReset;

Member ReadMember(const Statement& s) {
  Member m;
  m.id = s.ColumnInt(0);
  m.handle = s.ColumnText(1);
  m.sub = s.ColumnText(2);
  m.display_name = s.ColumnText(3);
  m.email = s.ColumnText(4);
  m.organisation = s.ColumnText(5);
  m.job_title = s.ColumnText(6);
  m.bio = s.ColumnText(7);
  // The CHECK constraint keeps visibility valid; fall back to the most private value anyway.
  auto visibility = ParseVisibility(s.ColumnText(8));
  m.visibility = visibility.ok() ? *visibility : DirectoryVisibility::kHidden;
  m.status = s.ColumnText(9) == "active" ? MemberStatus::kActive : MemberStatus::kDisabled;
  m.has_password = s.ColumnInt(10) != 0;
  m.created_at = s.ColumnInt(11);
  m.updated_at = s.ColumnInt(12);
  m.node_admin = s.ColumnInt(13) != 0;
  return m;
}

Error NotFound() { return MakeError(ErrorCode::kNotFound, "no such member", "member_not_found"); }

// Runs `sql` with one text or integer parameter and returns the single member row.
template <class Param>
Result<Member> SelectOne(Database& db, std::string_view where, const Param& param) {
  const std::string sql =
      "SELECT " + std::string(kColumns) + " FROM members WHERE " + std::string(where);
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return stmt.error();
  StatementReset reset{*stmt};
  (*stmt)->Bind(1, param);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotFound();
  return ReadMember(**stmt);
}

Result<bool> Exists(Database& db, std::string_view sql, std::string_view value, int64_t except_id) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return stmt.error();
  StatementReset reset{*stmt};
  (*stmt)->Bind(1, value).Bind(2, except_id);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  return *row;
}

constexpr std::string_view kHandleTaken = "SELECT 1 FROM members WHERE handle = ?1 AND id <> ?2";
constexpr std::string_view kEmailTaken =
    "SELECT 1 FROM members WHERE email = ?1 COLLATE NOCASE AND id <> ?2";

// A sub that no member has and no removed member had.
Result<std::string> FreshSub(Database& db) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string sub = RandomBase64Url(16);
    auto stmt = db.Cached(
        "SELECT 1 FROM members WHERE sub = ?1 UNION ALL SELECT 1 FROM retired_subs WHERE sub = ?1");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, std::string_view(sub));
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return sub;
  }
  return MakeError(ErrorCode::kInternal, "could not draw an unused subject identifier");
}

Result<Member> Insert(Database& db, const NewMember& m, int64_t now) {
  auto sub = FreshSub(db);
  if (!sub.ok()) return sub.error();
  auto stmt = db.Cached(
      "INSERT INTO members (handle, sub, display_name, email, organisation, job_title, bio, "
      "visibility, status, password_hash, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?10, ?10)");
  if (!stmt.ok()) return stmt.error();
  Statement& s = **stmt;
  s.Bind(1, std::string_view(m.handle))
      .Bind(2, std::string_view(*sub))
      .Bind(3, std::string_view(m.display_name))
      .Bind(4, std::string_view(m.email))
      .Bind(5, std::string_view(m.organisation))
      .Bind(6, std::string_view(m.job_title))
      .Bind(7, std::string_view(m.bio))
      .Bind(8, VisibilityName(m.visibility))
      .Bind(10, now);
  if (m.password_hash.empty()) {
    s.BindNull(9);
  } else {
    s.Bind(9, std::string_view(m.password_hash));
  }
  KITH_RETURN_IF_ERROR(s.Run());
  Member out;
  out.id = db.LastInsertRowId();
  out.handle = m.handle;
  out.sub = std::move(sub).value();
  out.display_name = m.display_name;
  out.email = m.email;
  out.organisation = m.organisation;
  out.job_title = m.job_title;
  out.bio = m.bio;
  out.visibility = m.visibility;
  out.has_password = !m.password_hash.empty();
  out.created_at = out.updated_at = now;
  return out;
}

Error Conflict(std::string_view field, std::string message) {
  return MakeError(ErrorCode::kConflict, std::string(field) + ": " + message,
                   std::string(field) + "_taken");
}

}  // namespace

std::string ImportReport::Summary() const {
  if (committed) return "imported " + std::to_string(imported) + " members";
  return std::to_string(rejected.size()) + " of " + std::to_string(rows) +
         " rows rejected; nothing was imported";
}

MemberStore::MemberStore(storage::Store& store, const Clock& clock) : store_(store), clock_(clock) {
  if (sodium_init() < 0) std::abort();
}

void MemberStore::Add(NewMember member, Done<Member> done) {
  if (auto status = ValidateNewMember(member); !status.ok()) {
    done(std::move(status).error());
    return;
  }
  SubmitWrite<Member>(
      store_.writer(),
      [member = std::move(member), now = clock_.UnixSeconds()](Database& db) -> Result<Member> {
        auto handle = Exists(db, kHandleTaken, member.handle, 0);
        if (!handle.ok()) return handle.error();
        if (*handle) return Conflict("handle", "\"" + member.handle + "\" is taken");
        auto email = Exists(db, kEmailTaken, member.email, 0);
        if (!email.ok()) return email.error();
        if (*email) return Conflict("email", "\"" + member.email + "\" is already in use");
        return Insert(db, member, now);
      },
      Notifying(std::move(done)));
}

void MemberStore::UpdateProfile(int64_t id, ProfileUpdate update, Done<Member> done) {
  if (auto status = ValidateProfileUpdate(update); !status.ok()) {
    done(std::move(status).error());
    return;
  }
  SubmitWrite<Member>(
      store_.writer(),
      [id, update = std::move(update), now = clock_.UnixSeconds()](Database& db) -> Result<Member> {
        auto current = SelectOne(db, "id = ?1", id);
        if (!current.ok()) return current.error();
        Member m = std::move(current).value();
        if (update.email) {
          auto taken = Exists(db, kEmailTaken, *update.email, id);
          if (!taken.ok()) return taken.error();
          if (*taken) return Conflict("email", "\"" + *update.email + "\" is already in use");
          m.email = *update.email;
        }
        if (update.display_name) m.display_name = *update.display_name;
        if (update.organisation) m.organisation = *update.organisation;
        if (update.job_title) m.job_title = *update.job_title;
        if (update.bio) m.bio = *update.bio;
        if (update.visibility) m.visibility = *update.visibility;
        m.updated_at = now;
        auto stmt = db.Cached(
            "UPDATE members SET display_name = ?2, email = ?3, organisation = ?4, "
            "job_title = ?5, bio = ?6, visibility = ?7, updated_at = ?8 WHERE id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)
            ->Bind(1, id)
            .Bind(2, std::string_view(m.display_name))
            .Bind(3, std::string_view(m.email))
            .Bind(4, std::string_view(m.organisation))
            .Bind(5, std::string_view(m.job_title))
            .Bind(6, std::string_view(m.bio))
            .Bind(7, VisibilityName(m.visibility))
            .Bind(8, now);
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return m;
      },
      Notifying(std::move(done)));
}

void MemberStore::SetStatus(int64_t id, MemberStatus status, Done<Member> done) {
  SubmitWrite<Member>(
      store_.writer(),
      [id, status, now = clock_.UnixSeconds()](Database& db) -> Result<Member> {
        auto stmt = db.Cached("UPDATE members SET status = ?2, updated_at = ?3 WHERE id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, id).Bind(2, MemberStatusName(status)).Bind(3, now);
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        if (db.Changes() == 0) return NotFound();
        if (status == MemberStatus::kDisabled) {
          auto del = db.Cached("DELETE FROM sessions WHERE member_id = ?1");
          if (!del.ok()) return del.error();
          (*del)->Bind(1, id);
          KITH_RETURN_IF_ERROR((*del)->Run());
        }
        return SelectOne(db, "id = ?1", id);
      },
      Notifying(std::move(done)));
}

void MemberStore::SetNodeAdmin(int64_t id, bool node_admin, Done<Member> done) {
  SubmitWrite<Member>(
      store_.writer(),
      [id, node_admin, now = clock_.UnixSeconds()](Database& db) -> Result<Member> {
        auto stmt = db.Cached("UPDATE members SET node_admin = ?2, updated_at = ?3 WHERE id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, id).Bind(2, int64_t{node_admin ? 1 : 0}).Bind(3, now);
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        if (db.Changes() == 0) return NotFound();
        return SelectOne(db, "id = ?1", id);
      },
      Notifying(std::move(done)));
}

void MemberStore::SetPasswordHash(int64_t id, std::string password_hash, Done<void> done) {
  if (!password_hash.empty() && password_hash.rfind("$argon2id$", 0) != 0) {
    done(MakeError(ErrorCode::kInvalidArgument, "password_hash: must be an Argon2id hash"));
    return;
  }
  SubmitWrite(
      store_.writer(),
      [id, hash = std::move(password_hash), now = clock_.UnixSeconds()](Database& db) -> Status {
        auto stmt =
            db.Cached("UPDATE members SET password_hash = ?2, updated_at = ?3 WHERE id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, id).Bind(3, now);
        if (hash.empty()) {
          (*stmt)->BindNull(2);
        } else {
          (*stmt)->Bind(2, std::string_view(hash));
        }
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        if (db.Changes() == 0) return NotFound();
        return OkStatus();
      },
      std::move(done));
}

void MemberStore::UpgradePasswordHash(int64_t id, std::string expected_hash, std::string new_hash,
                                      Done<bool> done) {
  if (new_hash.rfind("$argon2id$", 0) != 0) {
    done(MakeError(ErrorCode::kInvalidArgument, "password_hash: must be an Argon2id hash"));
    return;
  }
  SubmitWrite<bool>(
      store_.writer(),
      [id, expected = std::move(expected_hash),
       hash = std::move(new_hash)](Database& db) -> Result<bool> {
        auto stmt =
            db.Cached("UPDATE members SET password_hash = ?2 WHERE id = ?1 AND password_hash = ?3");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, id).Bind(2, std::string_view(hash)).Bind(3, std::string_view(expected));
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return db.Changes() > 0;
      },
      std::move(done));
}

void MemberStore::Remove(int64_t id, Done<void> done) {
  SubmitWrite(
      store_.writer(),
      [id, now = clock_.UnixSeconds()](Database& db) -> Status {
        auto retire = db.Cached(
            "INSERT OR IGNORE INTO retired_subs (sub, retired_at) "
            "SELECT sub, ?2 FROM members WHERE id = ?1");
        if (!retire.ok()) return retire.error();
        (*retire)->Bind(1, id).Bind(2, now);
        KITH_RETURN_IF_ERROR((*retire)->Run());
        auto del = db.Cached("DELETE FROM members WHERE id = ?1");
        if (!del.ok()) return del.error();
        (*del)->Bind(1, id);
        KITH_RETURN_IF_ERROR((*del)->Run());
        if (db.Changes() == 0) return NotFound();
        return OkStatus();
      },
      Notifying(std::move(done)));
}

void MemberStore::InsertAll(std::vector<NewMember> rows, std::vector<size_t> lines,
                            Done<ImportReport> done) {
  if (!lines.empty() && lines.size() != rows.size()) {
    done(MakeError(ErrorCode::kInvalidArgument, "InsertAll: lines and rows differ in size"));
    return;
  }
  SubmitWrite<ImportReport>(
      store_.writer(),
      [rows = std::move(rows), lines = std::move(lines),
       now = clock_.UnixSeconds()](Database& db) -> Result<ImportReport> {
        ImportReport report;
        report.rows = rows.size();
        // Check every row before writing any, so that a rejected import writes nothing.
        for (size_t i = 0; i < rows.size(); ++i) {
          const size_t line = lines.empty() ? i + 2 : lines[i];
          auto handle = Exists(db, kHandleTaken, rows[i].handle, 0);
          if (!handle.ok()) return handle.error();
          if (*handle) {
            report.rejected.push_back({line, rows[i].handle, "handle: is taken"});
            continue;
          }
          auto email = Exists(db, kEmailTaken, rows[i].email, 0);
          if (!email.ok()) return email.error();
          if (*email) report.rejected.push_back({line, rows[i].handle, "email: is already in use"});
        }
        if (!report.rejected.empty()) return report;
        for (const auto& row : rows) {
          auto inserted = Insert(db, row, now);
          if (!inserted.ok()) return inserted.error();
        }
        report.imported = rows.size();
        report.committed = true;
        return report;
      },
      Notifying(std::move(done)));
}

Result<Member> MemberStore::GetById(int64_t id) {
  return store_.Read([&](Database& db) { return SelectOne(db, "id = ?1", id); });
}

Result<Member> MemberStore::GetByHandle(std::string_view handle) {
  auto normal = NormalizeHandle(handle);
  if (!normal.ok()) return NotFound();
  return store_.Read(
      [&](Database& db) { return SelectOne(db, "handle = ?1", std::string_view(*normal)); });
}

Result<Member> MemberStore::GetBySub(std::string_view sub) {
  if (sub.empty() || sub.size() > 64) return NotFound();
  return store_.Read([&](Database& db) { return SelectOne(db, "sub = ?1", sub); });
}

Result<Member> MemberStore::GetByEmail(std::string_view email) {
  if (email.empty() || email.size() > kMaxEmail) return NotFound();
  return store_.Read(
      [&](Database& db) { return SelectOne(db, "email = ?1 COLLATE NOCASE", email); });
}

Result<std::string> MemberStore::PasswordHash(int64_t id) {
  return store_.Read([&](Database& db) -> Result<std::string> {
    auto stmt = db.Cached("SELECT coalesce(password_hash, '') FROM members WHERE id = ?1");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, id);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return NotFound();
    return (*stmt)->ColumnText(0);
  });
}

Result<MemberPage> MemberStore::List(int64_t after_id, size_t limit) {
  if (limit == 0 || limit > 1000)
    return MakeError(ErrorCode::kInvalidArgument, "limit: must be 1..1000");
  return store_.Read([&](Database& db) -> Result<MemberPage> {
    auto stmt = db.Cached("SELECT " + std::string(kColumns) +
                          " FROM members WHERE id > ?1 ORDER BY id LIMIT ?2");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, after_id).Bind(2, static_cast<int64_t>(limit) + 1);
    MemberPage page;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      if (page.members.size() == limit) {
        page.next_after = page.members.back().id;
        break;
      }
      page.members.push_back(ReadMember(**stmt));
    }
    return page;
  });
}

Result<int64_t> MemberStore::Count() {
  return store_.Read([&](Database& db) -> Result<int64_t> {
    auto stmt = db.Cached("SELECT count(*) FROM members");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    return (*stmt)->ColumnInt(0);
  });
}

}  // namespace kith::identity
