#include "identity/oidc_client.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "identity/member.h"

namespace kith::identity {
namespace {

// A dotted-quad IPv4 address in 127.0.0.0/8, the loopback network (RFC 1122 3.2.1.3): several
// nodes on one machine may listen on 127.0.0.1, 127.0.0.2, ... so that browsers keep their
// cookies apart (cookies are per host, not per port).
bool IsIpv4Loopback(std::string_view host) {
  int octets = 0;
  size_t i = 0;
  while (i <= host.size()) {
    size_t dot = host.find('.', i);
    if (dot == std::string_view::npos) dot = host.size();
    const std::string_view part = host.substr(i, dot - i);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        }))
      return false;
    const int value = std::stoi(std::string(part));
    if (value > 255 || (octets == 0 && value != 127)) return false;
    ++octets;
    i = dot + 1;
  }
  return octets == 4;
}

using storage::Database;
using storage::Statement;

using storage::StatementReset;

Error Invalid(std::string_view field, std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + message,
                   "invalid_client_metadata");
}

bool IsUnreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}
bool IsSubDelim(char c) { return std::strchr("!$&'()*+,;=", c) != nullptr && c != '\0'; }

// RFC 3986 path / query characters (pchar, '/', '?'), with %XX escapes checked.
bool ValidPathQuery(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      if (!std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
        return false;
      i += 2;
      continue;
    }
    if (!IsUnreserved(c) && !IsSubDelim(c) && c != ':' && c != '@' && c != '/' && c != '?')
      return false;
  }
  return true;
}

Result<std::vector<std::string>> JsonStrings(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array())
    return MakeError(ErrorCode::kInternal, "stored URI list is not a JSON array");
  std::vector<std::string> out;
  for (const auto& item : parsed)
    if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

constexpr std::string_view kColumns =
    "id, client_id, name, client_type, secret_hash, first_party, id_token_alg, "
    "token_endpoint_auth_method, redirect_uris, post_logout_redirect_uris, "
    "coalesce(jwks, ''), created_at, coalesce(backchannel_logout_uri, '')";

Result<OidcClient> ReadClient(const Statement& s) {
  OidcClient c;
  c.id = s.ColumnInt(0);
  c.client_id = s.ColumnText(1);
  c.name = s.ColumnText(2);
  c.is_public = s.ColumnText(3) == "public";
  if (!s.ColumnIsNull(4)) {
    auto hash = s.ColumnBlob(4);
    if (hash.size() == c.secret_hash.size()) {
      std::copy(hash.begin(), hash.end(), c.secret_hash.begin());
      c.has_secret = true;
    }
  }
  c.first_party = s.ColumnInt(5) != 0;
  auto alg = ParseJwsAlgorithm(s.ColumnText(6));
  c.id_token_alg = alg.ok() ? *alg : JwsAlgorithm::kRS256;
  auto method = ParseClientAuthMethod(s.ColumnText(7));
  if (!method.ok()) return MakeError(ErrorCode::kInternal, "stored client has a bad auth method");
  c.auth_method = *method;
  auto uris = JsonStrings(s.ColumnText(8));
  if (!uris.ok()) return uris.error();
  c.redirect_uris = std::move(uris).value();
  auto logout = JsonStrings(s.ColumnText(9));
  if (!logout.ok()) return logout.error();
  c.post_logout_redirect_uris = std::move(logout).value();
  c.jwks_json = s.ColumnText(10);
  c.created_at = s.ColumnInt(11);
  c.backchannel_logout_uri = s.ColumnText(12);
  return c;
}

}  // namespace

std::string_view ClientAuthMethodName(ClientAuthMethod method) {
  switch (method) {
    case ClientAuthMethod::kClientSecretBasic:
      return "client_secret_basic";
    case ClientAuthMethod::kClientSecretPost:
      return "client_secret_post";
    case ClientAuthMethod::kPrivateKeyJwt:
      return "private_key_jwt";
    case ClientAuthMethod::kNone:
      return "none";
  }
  return "none";
}

Result<ClientAuthMethod> ParseClientAuthMethod(std::string_view name) {
  if (name == "client_secret_basic") return ClientAuthMethod::kClientSecretBasic;
  if (name == "client_secret_post") return ClientAuthMethod::kClientSecretPost;
  if (name == "private_key_jwt") return ClientAuthMethod::kPrivateKeyJwt;
  if (name == "none") return ClientAuthMethod::kNone;
  return Invalid("token_endpoint_auth_method",
                 "must be client_secret_basic, client_secret_post, private_key_jwt or none");
}

bool OidcClient::HasRedirectUri(std::string_view uri) const {
  return std::find(redirect_uris.begin(), redirect_uris.end(), uri) != redirect_uris.end();
}

bool OidcClient::HasPostLogoutRedirectUri(std::string_view uri) const {
  return std::find(post_logout_redirect_uris.begin(), post_logout_redirect_uris.end(), uri) !=
         post_logout_redirect_uris.end();
}

Status ValidateRedirectUri(std::string_view uri, std::string_view field) {
  if (uri.empty()) return Invalid(field, "is empty");
  if (uri.size() > 2000) return Invalid(field, "is longer than 2000 characters");
  for (char c : uri) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F)
      return Invalid(field, "contains a space, control or non-ASCII character");
  }
  if (uri.find('#') != std::string_view::npos) return Invalid(field, "must not have a fragment");
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos) return Invalid(field, "must be an absolute URI");
  const std::string_view scheme = uri.substr(0, colon);
  if (scheme != "https" && scheme != "http")
    return Invalid(field, "must use https (or http for a loopback host), in lower case");
  if (uri.substr(colon, 3) != "://") return Invalid(field, "must be an absolute URI with a host");
  std::string_view rest = uri.substr(colon + 3);
  const size_t auth_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, auth_end);
  const std::string_view path_query =
      auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos)
    return Invalid(field, "must not contain user information");
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return Invalid(field, "has an unclosed IPv6 address");
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!port.empty() && port.front() != ':') return Invalid(field, "has a malformed authority");
    for (char c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return Invalid(field, "has a malformed IPv6 address");
  } else {
    const size_t pc = host.find(':');
    if (pc != std::string_view::npos) {
      port = host.substr(pc);
      host = host.substr(0, pc);
    }
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.')
        return Invalid(field, "has a malformed host name");
  }
  if (host.empty() || host == "[]") return Invalid(field, "must name a host");
  if (!port.empty()) {
    const std::string_view digits = port.substr(1);
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
        std::stoi(std::string(digits)) > 65535 || std::stoi(std::string(digits)) == 0)
      return Invalid(field, "has a bad port");
  }
  if (!ValidPathQuery(path_query)) return Invalid(field, "has characters a URI may not contain");
  if (scheme == "http") {
    std::string lower(host);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower != "localhost" && lower != "[::1]" && !IsIpv4Loopback(lower))
      return Invalid(field, "may use http only for a loopback host; use https");
  }
  return OkStatus();
}

Status ValidateNewOidcClient(NewOidcClient& client) {
  if (!client.client_id.empty()) {
    if (client.client_id.size() > 255)
      return Invalid("client_id", "must be at most 255 characters");
    for (char c : client.client_id) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7F) return Invalid("client_id", "must be printable ASCII");
    }
  }
  KITH_RETURN_IF_ERROR(ValidateText("name", client.name, 100, true));
  if (client.redirect_uris.empty()) return Invalid("redirect_uris", "at least one is required");
  if (client.redirect_uris.size() > 20 || client.post_logout_redirect_uris.size() > 20)
    return Invalid("redirect_uris", "at most 20 of each kind");
  for (const auto& uri : client.redirect_uris)
    KITH_RETURN_IF_ERROR(ValidateRedirectUri(uri, "redirect_uri"));
  for (const auto& uri : client.post_logout_redirect_uris)
    KITH_RETURN_IF_ERROR(ValidateRedirectUri(uri, "post_logout_redirect_uri"));
  if (!client.backchannel_logout_uri.empty())
    KITH_RETURN_IF_ERROR(
        ValidateRedirectUri(client.backchannel_logout_uri, "backchannel_logout_uri"));
  if (client.id_token_alg != JwsAlgorithm::kRS256 && client.id_token_alg != JwsAlgorithm::kEdDSA)
    return Invalid("id_token_signed_response_alg", "must be RS256 or EdDSA");
  if (!client.auth_method)
    client.auth_method =
        client.is_public ? ClientAuthMethod::kNone : ClientAuthMethod::kClientSecretBasic;
  if (client.is_public && *client.auth_method != ClientAuthMethod::kNone)
    return Invalid("token_endpoint_auth_method", "a public client must use none");
  if (!client.is_public && *client.auth_method == ClientAuthMethod::kNone)
    return Invalid("token_endpoint_auth_method", "a confidential client cannot use none");
  if (*client.auth_method == ClientAuthMethod::kPrivateKeyJwt) {
    if (client.jwks_json.empty()) return Invalid("jwks", "is required for private_key_jwt");
    if (client.jwks_json.size() > 64 * 1024) return Invalid("jwks", "is larger than 64 KiB");
    auto parsed = nlohmann::json::parse(client.jwks_json, nullptr, false);
    if (parsed.is_discarded()) return Invalid("jwks", "is not JSON");
    auto keys = ParseJwks(parsed);
    if (!keys.ok()) return Invalid("jwks", keys.error().message);
    client.jwks_json = parsed.dump();
  } else if (!client.jwks_json.empty()) {
    return Invalid("jwks", "is only used with private_key_jwt");
  }
  return OkStatus();
}

Result<std::vector<PublicJwk>> ClientKeys(const OidcClient& client) {
  if (client.jwks_json.empty())
    return MakeError(ErrorCode::kInvalidArgument, "the client has no registered keys",
                     "invalid_client");
  auto parsed = nlohmann::json::parse(client.jwks_json, nullptr, false);
  if (parsed.is_discarded())
    return MakeError(ErrorCode::kInternal, "the client's stored JWKS is not JSON");
  return ParseJwks(parsed);
}

bool CheckClientSecret(const OidcClient& client, std::string_view secret) {
  if (!client.has_secret || secret.empty() || secret.size() > 512) return false;
  const auto hash = Sha256(secret);
  return sodium_memcmp(hash.data(), client.secret_hash.data(), hash.size()) == 0;
}

OidcClientStore::OidcClientStore(storage::Store& store, const Clock& clock)
    : store_(store), clock_(clock) {
  if (sodium_init() < 0) std::abort();
}

void OidcClientStore::Add(NewOidcClient client, Done<RegisteredClient> done) {
  if (auto status = ValidateNewOidcClient(client); !status.ok()) {
    done(std::move(status).error());
    return;
  }
  RegisteredClient reg;
  OidcClient& c = reg.client;
  c.client_id = client.client_id.empty() ? RandomBase64Url(24) : client.client_id;
  c.name = client.name;
  c.is_public = client.is_public;
  c.first_party = client.first_party;
  c.id_token_alg = client.id_token_alg;
  c.auth_method = *client.auth_method;
  c.redirect_uris = client.redirect_uris;
  c.post_logout_redirect_uris = client.post_logout_redirect_uris;
  c.backchannel_logout_uri = client.backchannel_logout_uri;
  c.jwks_json = client.jwks_json;
  c.created_at = clock_.UnixSeconds();
  if (c.auth_method == ClientAuthMethod::kClientSecretBasic ||
      c.auth_method == ClientAuthMethod::kClientSecretPost) {
    reg.secret = RandomBase64Url(32);
    c.secret_hash = Sha256(reg.secret);
    c.has_secret = true;
  }
  SubmitWrite<RegisteredClient>(
      store_.writer(),
      [reg = std::move(reg)](Database& db) mutable -> Result<RegisteredClient> {
        OidcClient& c = reg.client;
        {
          auto exists = db.Cached("SELECT 1 FROM oidc_clients WHERE client_id = ?1");
          if (!exists.ok()) return exists.error();
          StatementReset reset{*exists};
          (*exists)->Bind(1, std::string_view(c.client_id));
          auto row = (*exists)->Step();
          if (!row.ok()) return row.error();
          if (*row)
            return MakeError(ErrorCode::kConflict,
                             "client_id: \"" + c.client_id + "\" is already registered",
                             "client_exists");
        }
        auto stmt = db.Cached(
            "INSERT INTO oidc_clients (client_id, name, client_type, secret_hash, first_party, "
            "id_token_alg, token_endpoint_auth_method, redirect_uris, post_logout_redirect_uris, "
            "jwks, created_at, backchannel_logout_uri) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
        if (!stmt.ok()) return stmt.error();
        Statement& s = **stmt;
        const std::string redirect = nlohmann::json(c.redirect_uris).dump();
        const std::string logout = nlohmann::json(c.post_logout_redirect_uris).dump();
        s.Bind(1, std::string_view(c.client_id))
            .Bind(2, std::string_view(c.name))
            .Bind(3, c.is_public ? "public" : "confidential")
            .Bind(5, int64_t{c.first_party ? 1 : 0})
            .Bind(6, JwsAlgorithmName(c.id_token_alg))
            .Bind(7, ClientAuthMethodName(c.auth_method))
            .Bind(8, std::string_view(redirect))
            .Bind(9, std::string_view(logout))
            .Bind(11, c.created_at);
        if (c.has_secret) {
          s.BindBlob(4, c.secret_hash);
        } else {
          s.BindNull(4);
        }
        if (c.jwks_json.empty()) {
          s.BindNull(10);
        } else {
          s.Bind(10, std::string_view(c.jwks_json));
        }
        if (c.backchannel_logout_uri.empty()) {
          s.BindNull(12);
        } else {
          s.Bind(12, std::string_view(c.backchannel_logout_uri));
        }
        KITH_RETURN_IF_ERROR(s.Run());
        c.id = db.LastInsertRowId();
        return std::move(reg);
      },
      std::move(done));
}

void OidcClientStore::Remove(std::string client_id, Done<void> done) {
  SubmitWrite(
      store_.writer(),
      [client_id = std::move(client_id)](Database& db) -> Status {
        auto stmt = db.Cached("DELETE FROM oidc_clients WHERE client_id = ?1");
        if (!stmt.ok()) return stmt.error();
        (*stmt)->Bind(1, std::string_view(client_id));
        KITH_RETURN_IF_ERROR((*stmt)->Run());
        if (db.Changes() == 0)
          return MakeError(ErrorCode::kNotFound, "no client \"" + client_id + "\"",
                           "client_not_found");
        return OkStatus();
      },
      std::move(done));
}

Result<OidcClient> OidcClientStore::Get(std::string_view client_id) {
  if (client_id.empty() || client_id.size() > 255)
    return MakeError(ErrorCode::kNotFound, "no such client", "client_not_found");
  return store_.Read([&](Database& db) -> Result<OidcClient> {
    auto stmt =
        db.Cached("SELECT " + std::string(kColumns) + " FROM oidc_clients WHERE client_id = ?1");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, client_id);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return MakeError(ErrorCode::kNotFound, "no such client", "client_not_found");
    return ReadClient(**stmt);
  });
}

Result<std::vector<OidcClient>> OidcClientStore::List() {
  return store_.Read([&](Database& db) -> Result<std::vector<OidcClient>> {
    auto stmt =
        db.Cached("SELECT " + std::string(kColumns) + " FROM oidc_clients ORDER BY name, id");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    std::vector<OidcClient> out;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      auto client = ReadClient(**stmt);
      if (!client.ok()) return client.error();
      out.push_back(std::move(client).value());
    }
    return out;
  });
}

}  // namespace kith::identity
