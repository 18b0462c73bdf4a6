#include "identity/session_store.h"

#include <sodium.h>
#include <array>
#include <optional>

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

// A fresh session token (base64url of kTokenBytes random bytes) and the SHA-256 of its raw
// bytes, which is all the database keeps. The raw bytes are wiped.
struct FreshToken {
  std::string token;
  std::array<uint8_t, 32> hash{};
};
FreshToken NewToken() {
  std::array<uint8_t, kTokenBytes> raw{};
  randombytes_buf(raw.data(), raw.size());
  FreshToken fresh;
  fresh.token = Base64UrlEncode(raw);
  fresh.hash = Sha256(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  sodium_memzero(raw.data(), raw.size());
  return fresh;
}

// The stored hash of a presented token; nullopt when the token cannot be one of ours.
std::optional<std::array<uint8_t, 32>> TokenHash(std::string_view token) {
  if (token.size() != 43) return std::nullopt;
  auto raw = Base64UrlDecode(token);
  if (!raw.ok() || raw->size() != kTokenBytes) return std::nullopt;
  const auto hash =
      Sha256(std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size()));
  sodium_memzero(raw->data(), raw->size());
  return hash;
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
  auto fresh = NewToken();
  NewSession created;
  created.token = std::move(fresh.token);
  const auto hash = fresh.hash;
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
  const auto hash = TokenHash(token);
  if (!hash) return InvalidSession();
  auto found = store_.Read([&](Database& db) -> Result<Session> {
    auto stmt = db.Cached("SELECT " + std::string(kSessionColumns) +
                          ", m.status FROM sessions s JOIN members m ON m.id = s.member_id "
                          "WHERE s.token_hash = ?1");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->BindBlob(1, *hash);
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
        int64_t ended = db.Changes();
        auto remote =
            db.Cached("DELETE FROM remote_sessions WHERE expires_at <= ?1 OR last_seen <= ?2");
        if (!remote.ok()) return remote.error();
        (*remote)->Bind(1, now).Bind(2, idle_cutoff);
        KITH_RETURN_IF_ERROR((*remote)->Run());
        ended += db.Changes();
        auto jtis = db.Cached("DELETE FROM logout_token_jtis WHERE expires_at <= ?1");
        if (!jtis.ok()) return jtis.error();
        KITH_RETURN_IF_ERROR((*jtis)->Bind(1, now).Run());
        return ended;
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

// ---------------------------------------------------------------------------------------------
// Remote members

namespace {

constexpr std::string_view kRemoteSessionColumns =
    "s.id, s.csrf_token, s.created_at, s.auth_time, s.last_seen, s.expires_at, s.client_address, "
    "s.user_agent, s.remote_member_id, r.address, r.home_node, r.display_name";

Session ReadRemoteSession(const Statement& s) {
  Session out;
  out.id = s.ColumnInt(0);
  out.csrf_token = s.ColumnText(1);
  out.created_at = s.ColumnInt(2);
  out.auth_time = s.ColumnInt(3);
  out.last_seen = s.ColumnInt(4);
  out.expires_at = s.ColumnInt(5);
  out.client_address = s.ColumnText(6);
  out.user_agent = s.ColumnText(7);
  out.remote_member_id = s.ColumnInt(8);
  out.remote_address = s.ColumnText(9);
  out.home_node = s.ColumnText(10);
  out.display_name = s.ColumnText(11);
  return out;
}

}  // namespace

void SessionStore::CreateRemote(RemoteSignIn who, SessionContext context, Done<NewSession> done) {
  if (who.address.empty() || who.handle.empty() || who.home_node.empty() || who.sub.empty())
    return done(MakeError(ErrorCode::kInvalidArgument,
                          "a remote member needs an address, a handle, a home node and a sub"));
  auto fresh = NewToken();
  NewSession created;
  created.token = std::move(fresh.token);
  const auto hash = fresh.hash;
  const int64_t now = clock_.UnixSeconds();
  Session& s = created.session;
  s.csrf_token = RandomBase64Url(32);
  s.created_at = s.last_seen = now;
  s.auth_time = who.auth_time > 0 && who.auth_time <= now ? who.auth_time : now;
  s.expires_at = now + options_.absolute_timeout.count();
  s.client_address = Clean(context.client_address, 64);
  s.user_agent = Clean(context.user_agent, 512);
  s.remote_address = Clean(who.address, 320);
  s.home_node = who.home_node;
  s.display_name = Clean(who.display_name, 400);
  who.organisation = Clean(who.organisation, 800);
  SubmitWrite<NewSession>(
      store_.writer(),
      [created = std::move(created), hash, who = std::move(who),
       now](Database& db) mutable -> Result<NewSession> {
        Session& s = created.session;
        auto upsert = db.Cached(
            "INSERT INTO remote_members (address, handle, home_node, sub, display_name, "
            "organisation, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) "
            "ON CONFLICT (address) DO UPDATE SET display_name = excluded.display_name, "
            "organisation = excluded.organisation, last_seen = excluded.last_seen "
            "WHERE home_node = excluded.home_node AND sub = excluded.sub");
        if (!upsert.ok()) return upsert.error();
        {
          StatementReset reset{*upsert};
          (*upsert)
              ->Bind(1, std::string_view(s.remote_address))
              .Bind(2, std::string_view(who.handle))
              .Bind(3, std::string_view(who.home_node))
              .Bind(4, std::string_view(who.sub))
              .Bind(5, std::string_view(s.display_name))
              .Bind(6, std::string_view(who.organisation))
              .Bind(7, now);
          KITH_RETURN_IF_ERROR((*upsert)->Run());
        }
        auto id = db.Cached(
            "SELECT id FROM remote_members WHERE address = ?1 AND home_node = ?2 AND sub = ?3");
        if (!id.ok()) return id.error();
        {
          StatementReset reset{*id};
          (*id)
              ->Bind(1, std::string_view(s.remote_address))
              .Bind(2, std::string_view(who.home_node))
              .Bind(3, std::string_view(who.sub));
          auto row = (*id)->Step();
          if (!row.ok()) return row.error();
          // The address is taken by another (home node, sub): a handle reused at the home
          // node after its member was removed. Refuse rather than merge two people.
          if (!*row)
            return MakeError(ErrorCode::kConflict,
                             "another person already signed in here as " + s.remote_address,
                             "remote_address_taken");
          s.remote_member_id = (*id)->ColumnInt(0);
        }
        auto stmt = db.Cached(
            "INSERT INTO remote_sessions (token_hash, remote_member_id, home_node, csrf_token, "
            "created_at, auth_time, last_seen, expires_at, client_address, user_agent, sid) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7, ?8, ?9, ?10)");
        if (!stmt.ok()) return stmt.error();
        (*stmt)
            ->BindBlob(1, hash)
            .Bind(2, s.remote_member_id)
            .Bind(3, std::string_view(s.home_node))
            .Bind(4, std::string_view(s.csrf_token))
            .Bind(5, s.created_at)
            .Bind(6, s.auth_time)
            .Bind(7, s.expires_at)
            .Bind(8, std::string_view(s.client_address))
            .Bind(9, std::string_view(s.user_agent));
        if (who.sid.empty()) {
          (*stmt)->BindNull(10);
        } else {
          (*stmt)->Bind(10, std::string_view(who.sid));
        }
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        s.id = db.LastInsertRowId();
        return std::move(created);
      },
      std::move(done));
}

Result<Session> SessionStore::AuthenticateAny(std::string_view token) {
  auto local = Authenticate(token);
  if (local.ok() || local.error().reason != "invalid_session") return local;
  const auto hash = TokenHash(token);
  if (!hash) return InvalidSession();
  auto found = store_.Read([&](Database& db) -> Result<Session> {
    auto stmt = db.Cached("SELECT " + std::string(kRemoteSessionColumns) +
                          " FROM remote_sessions s JOIN remote_members r "
                          "ON r.id = s.remote_member_id WHERE s.token_hash = ?1");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->BindBlob(1, *hash);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return InvalidSession();
    return ReadRemoteSession(**stmt);
  });
  if (!found.ok()) return found;
  const int64_t now = clock_.UnixSeconds();
  if (Expired(*found, now)) {
    RevokeRemote(found->id, [](Status) {});
    return MakeError(ErrorCode::kUnauthenticated, "the session has expired; sign in again",
                     "session_expired");
  }
  if (now - found->last_seen >= options_.touch_interval.count()) {
    found->last_seen = now;
    store_.writer().Submit(
        [id = found->id, now](Database& db) -> Status {
          auto stmt = db.Cached(
              "UPDATE remote_sessions SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2");
          if (!stmt.ok()) return stmt.error();
          (*stmt)->Bind(1, id).Bind(2, now);
          return (*stmt)->Run();
        },
        [](Status) {});  // best effort, as in Authenticate
  }
  return found;
}

void SessionStore::RevokeRemote(int64_t session_id, Done<void> done) {
  SubmitWrite(
      store_.writer(),
      [session_id](Database& db) -> Status {
        auto stmt = db.Cached("DELETE FROM remote_sessions WHERE id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, session_id);
        return (*stmt)->Run();
      },
      std::move(done));
}

void SessionStore::RevokeRemoteByHome(std::string home_node, Done<int64_t> done) {
  SubmitWrite<int64_t>(
      store_.writer(),
      [home_node = std::move(home_node)](Database& db) -> Result<int64_t> {
        auto stmt = db.Cached("DELETE FROM remote_sessions WHERE home_node = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, std::string_view(home_node));
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return db.Changes();
      },
      std::move(done));
}

void SessionStore::RevokeRemoteBySub(std::string home_node, std::string sub, Done<int64_t> done) {
  SubmitWrite<int64_t>(
      store_.writer(),
      [home_node = std::move(home_node), sub = std::move(sub)](Database& db) -> Result<int64_t> {
        auto stmt = db.Cached(
            "DELETE FROM remote_sessions WHERE remote_member_id IN "
            "(SELECT id FROM remote_members WHERE home_node = ?1 AND sub = ?2)");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, std::string_view(home_node)).Bind(2, std::string_view(sub));
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return db.Changes();
      },
      std::move(done));
}

void SessionStore::EndRemoteByLogout(RemoteLogout logout, Done<int64_t> done) {
  if (logout.home_node.empty() || logout.jti.empty() || (logout.sub.empty() && logout.sid.empty()))
    return done(MakeError(ErrorCode::kInvalidArgument,
                          "a logout needs the home node, a jti and a sub or a sid"));
  SubmitWrite<int64_t>(
      store_.writer(),
      [l = std::move(logout)](Database& db) -> Result<int64_t> {
        auto seen = db.Cached(
            "INSERT INTO logout_token_jtis (issuer, jti, expires_at) VALUES (?1, ?2, ?3)");
        if (!seen.ok()) return seen.error();
        auto inserted = (*seen)
                            ->Bind(1, std::string_view(l.home_node))
                            .Bind(2, std::string_view(l.jti))
                            .Bind(3, l.jti_expires_at)
                            .Run();
        if (!inserted.ok()) {
          if (inserted.error().code == ErrorCode::kConflict)
            return MakeError(ErrorCode::kConflict, "the logout token was already used (jti)",
                             "replayed_logout_token");
          return inserted.error();
        }
        // With a sid: that session (of that sub, when given). Without: every session of sub.
        auto stmt = db.Cached(
            "DELETE FROM remote_sessions WHERE home_node = ?1 AND "
            "(?3 = '' OR sid = ?3) AND "
            "(?2 = '' OR remote_member_id IN "
            "(SELECT id FROM remote_members WHERE home_node = ?1 AND sub = ?2))");
        if (!stmt.ok()) return stmt.error();
        (*stmt)
            ->Bind(1, std::string_view(l.home_node))
            .Bind(2, std::string_view(l.sub))
            .Bind(3, std::string_view(l.sid));
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        return db.Changes();
      },
      std::move(done));
}

}  // namespace kith::identity
