// The member JSON API under /api/v1 (docs/api.md; contract in the issue-5 notes): groups,
// membership, forum, library and the member's pending commands.
//
// Auth: the session cookie `kith_session` (unsafe methods also need `X-CSRF-Token: <the
// session's token>`, else 403 "csrf"), or `Authorization: Bearer <access token of this node's
// OpenID Connect provider>`. Neither: 401 "unauthenticated". The actor of every command is
// `handle@<this node's domain>`.
//
// Reads are short SQLite reads of groups::GroupStore (read rules: CanRead; a private group the
// viewer is not in is 404). Writes go through federation::Replicator::Submit and answer
// 201/200 {"state":"accepted","command_id","seq","event"} or 202 {"state":"pending",
// "command_id"} when another node owns the group and did not answer in time.
// Uploads (multipart/form-data or JSON with base64 content) are streamed into the FileStore
// (a BodySink per request, limit groups.max_upload_bytes); downloads are sent from the file
// (FileResponse) with single-range support.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstdint>

#include "federation/replication.h"
#include "groups/directory.h"
#include "groups/file_store.h"
#include "groups/group_store.h"
#include "groups/search.h"
#include "identity/member_store.h"
#include "identity/oidc_provider.h"
#include "identity/session_store.h"
#include "node/config.h"
#include "node/router.h"
#include "storage/clock.h"

namespace kith::node {

// What the API uses; everything must outlive the Router's routes.
struct ApiContext {
  const Config* config = nullptr;
  const Clock* clock = nullptr;
  identity::MemberStore* members = nullptr;
  identity::SessionStore* sessions = nullptr;
  identity::OidcProvider* oidc = nullptr;
  groups::GroupStore* groups = nullptr;
  groups::FileStore* files = nullptr;
  federation::Replicator* replicator = nullptr;
  // Directory profiles and search (node/api_directory.cc); both null: those routes are absent.
  groups::DirectoryStore* directory = nullptr;
  groups::Searcher* searcher = nullptr;
  // Hashing/fsync of uploaded files runs here, never on an I/O thread.
  boost::asio::thread_pool* blocking_pool = nullptr;
  int64_t max_upload_bytes = 50 * 1024 * 1024;
};

// Registers every /api/v1 route.
void AddApiRoutes(Router& router, const ApiContext& context);

// GET /api/v1/search and GET /api/v1/directory/people/{address} (node/api_directory.cc;
// docs/api.md "Directory and search"). Called by AddApiRoutes; does nothing unless
// context.directory and context.searcher are set.
void AddDirectoryApiRoutes(Router& router, const ApiContext& context);

}  // namespace kith::node
