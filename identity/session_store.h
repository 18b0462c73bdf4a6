// SessionStore: signed-in sessions (the `kith_session` cookie). All session SQL lives here.
//
// A session token is 256 random bits, base64url (43 characters), handed to the caller once by
// Create; the database holds only SHA-256(token bytes). A session ends at the first of: idle
// expiry (no use for idle_timeout, default 8 h), absolute expiry (absolute_timeout after
// creation, default 30 days), Revoke, RevokeAll ("sign out everywhere"), the member being
// disabled or removed. Use is recorded cheaply: last_seen is written only when it is older
// than touch_interval (default 60 s), so idle expiry may come up to that much early.
//
// Each session has its own random CSRF token (stored, 256 bits); CheckCsrf compares in
// constant time. auth_time (when a password was last proved) serves OIDC max_age.
//
// Writes follow identity/write_result.h (Done<T> on the writer thread, after commit); reads
// are synchronous on a pooled reader. Thread-safe; Store and Clock must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "identity/write_result.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace kith::identity {

struct Session {
  int64_t id = 0;
  int64_t member_id = 0;
  std::string csrf_token;
  int64_t created_at = 0;  // unix seconds
  int64_t auth_time = 0;
  int64_t last_seen = 0;
  int64_t expires_at = 0;  // absolute expiry
  std::string client_address;
  std::string user_agent;
  // Remote members (signed in here through their home node, storage/migrations/
  // 0008_remote_members.sql): remote_member_id != 0 and member_id == 0.
  int64_t remote_member_id = 0;
  std::string remote_address;  // handle@home-domain: the actor of what they do here
  std::string home_node;       // the home node's base URL (its OIDC issuer)
  std::string display_name;    // as the home node last told us

  bool remote() const { return remote_member_id != 0; }
};

// A remote member as their home node's ID token described them.
struct RemoteSignIn {
  std::string address;    // handle@home-domain
  std::string handle;     // lower-case
  std::string home_node;  // base URL of the home node (= the ID token's iss)
  std::string sub;        // the ID token's sub
  std::string display_name;
  std::string organisation;
  int64_t auth_time = 0;  // the ID token's auth_time (0: now)
  std::string sid;        // the ID token's sid (empty: none), for back-channel logout
};

// A verified back-channel logout from a remote member's home node (identity/oidc_logout.h).
struct RemoteLogout {
  std::string home_node;  // the logout token's iss
  std::string sub;        // empty: only sid
  std::string sid;        // empty: every session of sub
  std::string jti;
  int64_t jti_expires_at = 0;  // the token's exp: the jti is kept until then
};

// A new session and its token. The token exists only here: put it in the cookie and drop it.
struct NewSession {
  std::string token;
  Session session;
};

// Where a sign-in came from, recorded with the session (truncated, control characters
// replaced).
struct SessionContext {
  std::string client_address;
  std::string user_agent;
};

class SessionStore {
 public:
  struct Options {
    std::chrono::seconds idle_timeout{8 * 3600};
    std::chrono::seconds absolute_timeout{30 * 24 * 3600};
    std::chrono::seconds touch_interval{60};
  };

  SessionStore(storage::Store& store, const Clock& clock, Options options);
  SessionStore(storage::Store& store, const Clock& clock) : SessionStore(store, clock, Options{}) {}

  // Starts a session for `member_id` (auth_time = now). kNotFound when the member does not
  // exist, kPermissionDenied when disabled.
  void Create(int64_t member_id, SessionContext context, Done<NewSession> done);

  // The live session for a cookie token, touching it when due (asynchronously: the touch is
  // queued on the writer and not awaited). kUnauthenticated with reason "invalid_session" for
  // a malformed or unknown token (or a disabled member), "session_expired" when expired.
  Result<Session> Authenticate(std::string_view token);

  // Ends one session (idempotent: an unknown id is fine).
  void Revoke(int64_t session_id, Done<void> done);

  // Ends every session of a member; answers how many ended.
  void RevokeAll(int64_t member_id, Done<int64_t> done);

  // Ends every session of a member except `keep_session_id` (after a password change: "sign
  // out my other devices"); answers how many ended.
  void RevokeOthers(int64_t member_id, int64_t keep_session_id, Done<int64_t> done);

  // Deletes expired sessions (idle or absolute); answers how many. Run periodically.
  void PurgeExpired(Done<int64_t> done);

  // A member's live sessions, newest first (for "where you are signed in").
  Result<std::vector<Session>> ListForMember(int64_t member_id);

  // --- Remote members (issue 6) ------------------------------------------------------------
  // Records (or refreshes: display name, organisation, last_seen) the remote member and starts
  // a session for them, in one write. kInvalidArgument when address, handle, home_node or sub
  // is empty.
  void CreateRemote(RemoteSignIn who, SessionContext context, Done<NewSession> done);

  // Like Authenticate, but also finds remote members' sessions (Session::remote()). Only the
  // places that may serve a remote member call this (the JSON API, group pages); the OIDC
  // provider and the account pages keep using Authenticate, which never answers a remote one.
  Result<Session> AuthenticateAny(std::string_view token);

  // Ends one remote session (idempotent).
  void RevokeRemote(int64_t session_id, Done<void> done);

  // Ends every session of the remote members of `home_node` (peering suspended or revoked);
  // answers how many ended.
  void RevokeRemoteByHome(std::string home_node, Done<int64_t> done);

  // Ends every session of the remote member (home_node, sub) (back-channel logout from the
  // home node); answers how many ended.
  void RevokeRemoteBySub(std::string home_node, std::string sub, Done<int64_t> done);

  // Back-channel logout (OpenID Connect Back-Channel Logout 1.0) from the home node: records
  // the token's jti, then ends the remote sessions it names (the one with its sid, or every
  // session of its sub), in one write. Answers how many ended (0 is fine: already gone).
  // kConflict (reason "replayed_logout_token") when the jti was seen before: nothing ends;
  // kInvalidArgument without home_node, jti, or both sub and sid.
  void EndRemoteByLogout(RemoteLogout logout, Done<int64_t> done);

  // Constant-time comparison of a submitted CSRF token with the session's.
  static bool CheckCsrf(const Session& session, std::string_view submitted);

  const Options& options() const { return options_; }

 private:
  bool Expired(const Session& s, int64_t now) const;
  storage::Store& store_;
  const Clock& clock_;
  Options options_;
};

}  // namespace kith::identity
