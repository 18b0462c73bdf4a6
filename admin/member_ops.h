// Admin routes for the node's members (served on DATA_DIR/admin.sock, used by `kithctl member`):
//   GET    /v1/members?after=ID&limit=N&q=TEXT
//                 -> {"members":[member...],"next_after":N}   (N = 0 after the last page;
//                    q keeps members whose handle, email, display name or organisation
//                    contains TEXT, case-insensitively)
//   POST   /v1/members {handle,email,display_name,organisation?,job_title?,bio?,visibility?,
//                       password?}
//                 -> {"member":{...}} plus "password" when none was given: a generated one,
//                    shown this once
//   GET    /v1/members/{handle}                 -> {"member":{...}}
//   POST   /v1/members/{handle}/disable|enable  -> {"member":{...}} (disabling ends sessions)
//   POST   /v1/members/{handle}/grant-admin|revoke-admin -> {"member":{...}} (node_admin)
//   POST   /v1/members/{handle}/reset-password {password?}
//                 -> {"member":{...},"sessions_ended":N} plus "password" when generated
//   DELETE /v1/members/{handle}                 -> {"removed":handle} (sessions go, sub retired)
//   POST   /v1/members/import {"csv":TEXT}
//                 -> {"rows","imported","committed","rejected":[{line,handle,reason}],"summary"}
//                    (all rows or none; a rejected row is not an HTTP error)
// A member is {"id","handle","address","sub","display_name","email","organisation",
// "job_title","bio","visibility","status","has_password","created_at","updated_at"}; password
// hashes never leave the node. Errors are the admin API's JSON errors: 400 naming the field,
// 404 for an unknown handle, 409 for a taken handle or email, 503 when the member services are
// not running. Handlers block (SQLite, Argon2id): the admin socket runs them on its pool.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "admin/admin_router.h"
#include "identity/write_result.h"

namespace kith::admin {

// Registers the routes above on `router`. `context` (its members, sessions and hasher, and its
// name for the member's address) must outlive the router; when any of the three services is
// null the routes answer 503.
void AddMemberRoutes(AdminRouter& router, const NodeContext* context);

// Runs `start`, handing it a Done<T> callback, and blocks the calling thread until the
// callback has run; returns what it got. For the admin handlers, which run on a blocking pool:
// never call it on a writer, hasher or I/O thread (the callback could then never run).
template <class T>
Result<T> WaitDone(const std::function<void(identity::Done<T>)>& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return future.get();
}

// The percent-decoded form of a path parameter or query value; kInvalidArgument naming
// `field` for a malformed escape.
Result<std::string> DecodeComponent(std::string_view text, std::string_view field);

}  // namespace kith::admin
