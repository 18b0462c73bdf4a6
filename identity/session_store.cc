#include "identity/session_store.h"

#include <sodium.h>

#include "identity/jwk.h"

namespace kith::identity {
namespace {

using storage::Database;
using storage::Statement;

using storage::StatementReset;

constexpr size_t kTokenBytes = 32;

// Cleans a header value for storage: at most `max` bytes, control bytes become '?', and a cut
// never splits a UTF-8 sequence.
std::string Clean(std::string_view value, size_t max) {
  std::string out(value.substr(0, max));
  if (out.size() == max) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  }
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = '?';
  }
  return out;
}

Session ReadSession(const Statement& s) {
  Session out;
  out.id = s.ColumnInt(0);
  out.member_id = s.ColumnInt(1);
  out.csrf_token = s.ColumnText(2);
  out.created_at = s.ColumnInt(3);
  out.auth_time = s.ColumnInt(4);
  out.last_seen = s.ColumnInt(5);
  out.expires_at = s.ColumnInt(6);
  out.client_address = s.ColumnText(7);
  out.user_agent = s.ColumnText(8);
  return out;
}

constexpr std::string_view kSessionColumns =
    "s.id, s.member_id, s.csrf_token, s.created_at, s.auth_time, s.last_seen, s.expires_at, "
    "s.client_address, s.user_agent";

Error InvalidSession() {
  return MakeError(ErrorCode::kUnauthenticated, "not signed in", "invalid_session");
}

}  // namespace

SessionStore::SessionStore(storage::Store& store, const Clock& clock, Options options)
    : store_(store), clock_(clock), options_(options) {
  if (sodium_init() < 0) std::abort();
}

bool SessionStore::Expired(const Session& s, int64_t now) const {
  return now >= s.expires_at || now - s.last_seen >= options_.idle_timeout.count();
}

void SessionStore::Create(int64_t member_id, SessionContext context, Done<NewSession> done) {
  std::array<uint8_t, kTokenBytes> raw{};
  randombytes_buf(raw.data(), raw.size());
  NewSession created;
  created.token = Base64UrlEncode(raw);
  const auto hash = Sha256(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  sodium_memzero(raw.data(), raw.size());
  const int64_t now = clock_.UnixSeconds();
  Session& s = created.session;
  s.member_id = member_id;
  s.csrf_token = RandomBase64Url(32);
  s.created_at = s.auth_time = s.last_seen = now;
  s.expires_at = now + options_.absolute_timeout.count();
  s.client_address = Clean(context.client_address, 64);
  s.user_agent = Clean(context.user_agent, 512);
  SubmitWrite<NewSession>(
      store_.writer(),
      [created = std::move(created), hash](Database& db) mutable -> Result<NewSession> {
        auto status = db.Cached("SELECT status FROM members WHERE id = ?1");
        if (!status.ok()) return status.error();
        {
          StatementReset reset{*status};
          (*status)->Bind(1, created.session.member_id);
          auto row = (*status)->Step();
          if (!row.ok()) return row.error();
          if (!*row) return MakeError(ErrorCode::kNotFound, "no such member", "member_not_found");
          if ((*status)->ColumnText(0) != "active")
            return MakeError(ErrorCode::kPermissionDenied, "the member is disabled",
                             "member_disabled");
        }
        const Session& s = created.session;
        auto stmt = db.Cached(
            "INSERT INTO sessions (token_hash, member_id, csrf_token, created_at, auth_time, "
            "last_seen, expires_at, client_address, user_agent) "
            "VALUES (?1, ?2, ?3, ?4, ?4, ?4, ?5, ?6, ?7)");
        if (!stmt.ok()) return stmt.error();
        (*stmt)
            ->BindBlob(1, hash)
            .Bind(2, s.member_id)
            .Bind(3, std::string_view(s.csrf_token))
            .Bind(4, s.created_at)
            .Bind(5, s.expires_at)
            .Bind(6, std::string_view(s.client_address))
            .Bind(7, std::string_view(s.user_agent));
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        created.session.id = db.LastInsertRowId();
        return std::move(created);
      },
      std::move(done));
}

Result<Session> SessionStore::Authenticate(std::string_view token) {
  if (token.size() != 43) return InvalidSession();
  auto raw = Base64UrlDecode(token);
  if (!raw.ok() || raw->size() != kTokenBytes) return InvalidSession();
  const auto hash =
      Sha256(std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size()));
  sodium_memzero(raw->data(), raw->size());
  auto found = store_.Read([&](Database& db) -> Result<Session> {
    auto stmt = db.Cached("SELECT " + std::string(kSessionColumns) +
                          ", m.status FROM sessions s JOIN members m ON m.id = s.member_id "
                          "WHERE s.token_hash = ?1");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->BindBlob(1, hash);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row || (*stmt)->ColumnText(9) != "active") return InvalidSession();
    return ReadSession(**stmt);
  });
  if (!found.ok()) return found;
  const int64_t now = clock_.UnixSeconds();
  if (Expired(*found, now)) {
    Revoke(found->id, [](Status) {});
    return MakeError(ErrorCode::kUnauthenticated, "the session has expired; sign in again",
                     "session_expired");
  }
  if (now - found->last_seen >= options_.touch_interval.count()) {
    found->last_seen = now;
    store_.writer().Submit(
        [id = found->id, now](Database& db) -> Status {
          auto stmt =
              db.Cached("UPDATE sessions SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2");
          if (!stmt.ok()) return stmt.error();
          (*stmt)->Bind(1, id).Bind(2, now);
          return (*stmt)->Run();
        },
        [](Status) {});  // best effort: a lost touch only shortens the idle window
  }
  return found;
}

void SessionStore::Revoke(int64_t session_id, Done<void> done) {
  SubmitWrite(
      store_.writer(),
      [session_id](Database& db) -> Status {
        auto stmt = db.Cached("DELETE FROM sessions WHERE id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, session_id);
        return (*stmt)->Run();
      },
      std::move(done));
}

void SessionStore::RevokeAll(int64_t member_id, Done<int64_t> done) {
  SubmitWrite<int64_t>(
      store_.writer(),
      [member_id](Database& db) -> Result<int64_t> {
        auto stmt = db.Cached("DELETE FROM sessions WHERE member_id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, member_id);
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return db.Changes();
      },
      std::move(done));
}

void SessionStore::RevokeOthers(int64_t member_id, int64_t keep_session_id, Done<int64_t> done) {
  SubmitWrite<int64_t>(
      store_.writer(),
      [member_id, keep_session_id](Database& db) -> Result<int64_t> {
        auto stmt = db.Cached("DELETE FROM sessions WHERE member_id = ?1 AND id <> ?2");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, member_id).Bind(2, keep_session_id);
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return db.Changes();
      },
      std::move(done));
}

void SessionStore::PurgeExpired(Done<int64_t> done) {
  const int64_t now = clock_.UnixSeconds();
  const int64_t idle_cutoff = now - options_.idle_timeout.count();
  SubmitWrite<int64_t>(
      store_.writer(),
      [now, idle_cutoff](Database& db) -> Result<int64_t> {
        auto stmt = db.Cached("DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen <= ?2");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, now).Bind(2, idle_cutoff);
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return db.Changes();
      },
      std::move(done));
}

Result<std::vector<Session>> SessionStore::ListForMember(int64_t member_id) {
  const int64_t now = clock_.UnixSeconds();
  return store_.Read([&](Database& db) -> Result<std::vector<Session>> {
    auto stmt = db.Cached("SELECT " + std::string(kSessionColumns) +
                          " FROM sessions s WHERE s.member_id = ?1 ORDER BY s.id DESC LIMIT 1000");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, member_id);
    std::vector<Session> out;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      Session s = ReadSession(**stmt);
      if (!Expired(s, now)) out.push_back(std::move(s));
    }
    return out;
  });
}

bool SessionStore::CheckCsrf(const Session& session, std::string_view submitted) {
  if (session.csrf_token.empty() || submitted.size() != session.csrf_token.size()) return false;
  return sodium_memcmp(session.csrf_token.data(), submitted.data(), submitted.size()) == 0;
}

}  // namespace kith::identity
