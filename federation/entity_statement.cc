#include "federation/entity_statement.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <limits>

namespace kith::federation {
namespace {

constexpr size_t kMaxNamingConstraintBytes = 253;  // a DNS name
constexpr int kMaxPathLengthValue = 64;

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), "invalid_entity_statement");
}

Error Unauthenticated(std::string message, std::string reason) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message), std::move(reason));
}

// Untrusted text quoted in an error message: at most 80 bytes, control characters dropped.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 80))
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  if (text.size() > 80) out += "...";
  out += '"';
  return out;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// An integer claim (unix seconds); nullopt when missing or not an integer.
std::optional<int64_t> IntegerClaim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  return std::nullopt;
}

// The header's typ must be `want` (compared case-insensitively, RFC 7515 §4.1.9).
Status CheckTyp(const identity::Jws& jws, std::string_view want) {
  auto typ = jws.header.find("typ");
  if (typ == jws.header.end())
    return Invalid("missing typ: the header has no \"typ\" (want \"" + std::string(want) + "\")");
  if (!typ->is_string() || Lower(typ->get<std::string>()) != want)
    return Invalid("wrong typ " + (typ->is_string() ? Quote(typ->get<std::string>()) : "") +
                   " (want \"" + std::string(want) + "\")");
  return OkStatus();
}

// iat/exp: integers, exp > iat, iat <= now + leeway, exp > now - leeway.
Result<std::pair<int64_t, int64_t>> CheckTimes(const nlohmann::json& claims, const Clock& clock,
                                               std::chrono::seconds leeway) {
  auto iat = IntegerClaim(claims, "iat");
  if (!iat) return Invalid("\"iat\" is missing or not an integer");
  auto exp = IntegerClaim(claims, "exp");
  if (!exp) return Invalid("\"exp\" is missing or not an integer");
  if (*exp <= *iat) return Invalid("\"exp\" is not after \"iat\"");
  const int64_t now = clock.UnixSeconds();
  if (*iat > now + leeway.count())
    return Unauthenticated(
        "issued in the future (iat " + std::to_string(*iat) + ", now " + std::to_string(now) + ")",
        "not_yet_valid");
  if (*exp <= now - leeway.count())
    return Unauthenticated(
        "expired (exp " + std::to_string(*exp) + ", now " + std::to_string(now) + ")", "expired");
  return std::make_pair(*iat, *exp);
}

Result<std::string> EntityIdClaim(const nlohmann::json& claims, const char* name, bool allow_http) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string())
    return Invalid(std::string("\"") + name + "\" is missing or not a string");
  std::string value = it->get<std::string>();
  if (auto ok = ValidateEntityId(value, allow_http); !ok.ok())
    return Invalid(std::string("\"") + name + "\": " + ok.error().message);
  return value;
}

Result<std::vector<std::string>> ParseNamingList(const nlohmann::json& object, const char* name,
                                                 size_t& total) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it == object.end()) return out;
  if (!it->is_array())
    return Invalid(std::string("constraints.naming_constraints.") + name + " is not an array");
  for (const auto& entry : *it) {
    if (++total > kMaxNamingConstraints)
      return Invalid("constraints.naming_constraints has more than " +
                     std::to_string(kMaxNamingConstraints) + " entries");
    if (!entry.is_string() || entry.get_ref<const std::string&>().empty() ||
        entry.get_ref<const std::string&>().size() > kMaxNamingConstraintBytes)
      return Invalid(std::string("constraints.naming_constraints.") + name +
                     " entries must be non-empty host names");
    out.push_back(Lower(entry.get<std::string>()));
  }
  return out;
}

Result<Constraints> ParseConstraints(const nlohmann::json& json) {
  if (!json.is_object()) return Invalid("\"constraints\" is not an object");
  Constraints c;
  if (auto it = json.find("max_path_length"); it != json.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
        it->get<int64_t>() > kMaxPathLengthValue)
      return Invalid("constraints.max_path_length must be an integer from 0 to " +
                     std::to_string(kMaxPathLengthValue));
    c.max_path_length = static_cast<int>(it->get<int64_t>());
  }
  if (auto it = json.find("naming_constraints"); it != json.end()) {
    if (!it->is_object()) return Invalid("constraints.naming_constraints is not an object");
    size_t total = 0;
    NamingConstraints naming;
    auto permitted = ParseNamingList(*it, "permitted", total);
    if (!permitted.ok()) return permitted.error();
    auto excluded = ParseNamingList(*it, "excluded", total);
    if (!excluded.ok()) return excluded.error();
    naming.permitted = std::move(permitted).value();
    naming.excluded = std::move(excluded).value();
    c.naming_constraints = std::move(naming);
  }
  return c;
}

nlohmann::json ConstraintsJson(const Constraints& c) {
  nlohmann::json out = nlohmann::json::object();
  if (c.max_path_length) out["max_path_length"] = *c.max_path_length;
  if (c.naming_constraints) {
    nlohmann::json naming = nlohmann::json::object();
    if (!c.naming_constraints->permitted.empty())
      naming["permitted"] = c.naming_constraints->permitted;
    if (!c.naming_constraints->excluded.empty())
      naming["excluded"] = c.naming_constraints->excluded;
    out["naming_constraints"] = std::move(naming);
  }
  return out;
}

// Splits a compact JWS of up to `max_bytes` (identity::ParseJws stops at 64 KiB; withdrawn
// lists may be larger). Same refusals as ParseJws.
Result<identity::Jws> ParseLargeJws(std::string_view compact) {
  const size_t dot1 = compact.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || compact.find('.', dot2 + 1) != std::string_view::npos)
    return Invalid("not a compact JWS: a compact JWS has three parts");
  // The header and signature are small: check them with ParseJws over a stand-in payload.
  std::string small(compact.substr(0, dot1));
  small += '.';
  small += compact.substr(dot2);
  auto head = identity::ParseJws(small);
  if (!head.ok()) return Invalid("not a compact JWS: " + head.error().message);
  auto payload = identity::Base64UrlDecode(compact.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload.ok()) return Invalid("not a compact JWS: the JWS payload is not base64url");
  identity::Jws jws = std::move(head).value();
  jws.payload.assign(payload->begin(), payload->end());
  jws.signing_input = std::string(compact.substr(0, dot2));
  return jws;
}

// Verifies `jws` with the key its header names among `keys`.
Status VerifyWithKeys(const identity::Jws& jws, const std::vector<identity::PublicJwk>& keys) {
  if (jws.kid.empty()) return Unauthenticated("the header has no \"kid\"", "unknown_key");
  for (const auto& key : keys) {
    if (key.kid() != jws.kid) continue;
    if (!key.Supports(jws.algorithm)) continue;
    if (identity::VerifyJws(jws, key).ok()) return OkStatus();
    return Unauthenticated("invalid signature (key " + Quote(jws.kid) + ")", "invalid_signature");
  }
  return Unauthenticated("signed by an unknown key " + Quote(jws.kid), "unknown_key");
}

std::string MetadataString(const EntityStatement& s, const char* type, const char* member) {
  auto t = s.metadata.find(type);
  if (t == s.metadata.end() || !t->is_object()) return {};
  auto m = t->find(member);
  if (m == t->end() || !m->is_string()) return {};
  return m->get<std::string>();
}

Status CheckForSigning(const EntityStatement& s) {
  KITH_RETURN_IF_ERROR(ValidateEntityId(s.iss, true));
  KITH_RETURN_IF_ERROR(ValidateEntityId(s.sub, true));
  if (s.exp <= s.iat) return Invalid("exp must be after iat");
  if (s.jwks.empty() || s.jwks.size() > kMaxStatementKeys)
    return Invalid("a statement carries 1 to " + std::to_string(kMaxStatementKeys) + " keys");
  if (!s.metadata.is_object()) return Invalid("metadata must be an object");
  if (s.authority_hints.size() > kMaxAuthorityHints)
    return Invalid("more than " + std::to_string(kMaxAuthorityHints) + " authority hints");
  if (!s.authority_hints.empty() && !s.IsConfiguration())
    return Invalid("authority_hints belong in entity configurations only");
  for (const auto& hint : s.authority_hints) KITH_RETURN_IF_ERROR(ValidateEntityId(hint, true));
  if (s.constraints && s.IsConfiguration())
    return Invalid("constraints belong in subordinate statements only");
  if (s.constraints) {
    if (s.constraints->max_path_length && (*s.constraints->max_path_length < 0 ||
                                           *s.constraints->max_path_length > kMaxPathLengthValue))
      return Invalid("max_path_length out of range");
    if (s.constraints->naming_constraints &&
        s.constraints->naming_constraints->permitted.size() +
                s.constraints->naming_constraints->excluded.size() >
            kMaxNamingConstraints)
      return Invalid("too many naming constraints");
  }
  return OkStatus();
}

}  // namespace

Status ValidateEntityId(std::string_view entity_id, bool allow_http) {
  auto bad = [&](std::string why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "entity identifier " + Quote(entity_id) + " " + std::move(why),
                     "invalid_entity_id");
  };
  if (entity_id.empty()) return bad("is empty");
  if (entity_id.size() > kMaxEntityIdBytes)
    return bad("is longer than " + std::to_string(kMaxEntityIdBytes) + " bytes");
  auto parsed = boost::urls::parse_uri(entity_id);
  if (!parsed) return bad("is not an absolute URL");
  const boost::urls::url_view& url = *parsed;
  if (url.has_fragment()) return bad("has a fragment");
  if (url.has_query()) return bad("has a query");
  const std::string scheme = std::string(url.scheme());
  if (scheme == "http") {
    if (!allow_http) return bad("uses http (https required)");
  } else if (scheme != "https") {
    return bad("must use https");
  }
  if (!url.has_authority() || url.encoded_host().empty()) return bad("has no host");
  if (url.has_userinfo()) return bad("has user information");
  const std::string_view path = url.encoded_path();
  if (!path.empty() && path.back() == '/') return bad("has a trailing slash");
  if (!path.empty() && path.front() != '/') return bad("has a relative path");
  if (path.find("/./") != std::string_view::npos || path.find("/../") != std::string_view::npos ||
      path.ends_with("/.") || path.ends_with("/..") || path.find("//") != std::string_view::npos)
    return bad("has dot or empty path segments");
  return OkStatus();
}

std::string EntityHost(std::string_view entity_id) {
  auto parsed = boost::urls::parse_uri(entity_id);
  if (!parsed) return {};
  return Lower(std::string_view(parsed->encoded_host()));
}

bool SatisfiesNamingConstraints(std::string_view entity_id, const NamingConstraints& constraints) {
  const std::string host = EntityHost(entity_id);
  if (host.empty()) return false;
  auto matches = [&](const std::string& entry) {
    const std::string e = Lower(entry);
    if (e.empty()) return false;
    if (e.front() == '.') return host.size() > e.size() && host.ends_with(e);
    return host == e;
  };
  for (const auto& entry : constraints.excluded)
    if (matches(entry)) return false;
  if (constraints.permitted.empty()) return true;
  return std::any_of(constraints.permitted.begin(), constraints.permitted.end(), matches);
}

Result<std::string> SignEntityStatement(const EntityStatement& statement,
                                        const identity::SigningKey& key) {
  KITH_RETURN_IF_ERROR(CheckForSigning(statement));
  nlohmann::json payload{{"iss", statement.iss},
                         {"sub", statement.sub},
                         {"iat", statement.iat},
                         {"exp", statement.exp},
                         {"jwks", identity::JwksDocument(statement.jwks)},
                         {"metadata", statement.metadata}};
  if (!statement.authority_hints.empty()) payload["authority_hints"] = statement.authority_hints;
  if (statement.constraints) payload["constraints"] = ConstraintsJson(*statement.constraints);
  auto compact = identity::SignJws(key, payload.dump(), kEntityStatementTyp);
  if (!compact.ok()) return compact.error();
  if (compact->size() > kMaxEntityStatementBytes)
    return Invalid("the signed statement is larger than " +
                   std::to_string(kMaxEntityStatementBytes) + " bytes");
  return compact;
}

Result<ParsedStatement> ParseEntityStatement(std::string_view compact, const Clock& clock,
                                             const StatementCheckOptions& options) {
  if (compact.size() > kMaxEntityStatementBytes)
    return MakeError(ErrorCode::kTooLarge,
                     "the entity statement is larger than " +
                         std::to_string(kMaxEntityStatementBytes) + " bytes",
                     "too_large");
  auto jws = identity::ParseJws(compact);
  if (!jws.ok()) return Invalid("not a compact JWS: " + jws.error().message);
  KITH_RETURN_IF_ERROR(CheckTyp(*jws, kEntityStatementTyp));
  auto claims = identity::ParseJwtClaims(jws->payload);
  if (!claims.ok()) return Invalid("the payload is not a JSON object");

  ParsedStatement out;
  EntityStatement& s = out.statement;
  auto iss = EntityIdClaim(*claims, "iss", options.allow_http);
  if (!iss.ok()) return iss.error();
  auto sub = EntityIdClaim(*claims, "sub", options.allow_http);
  if (!sub.ok()) return sub.error();
  s.iss = std::move(iss).value();
  s.sub = std::move(sub).value();
  auto times = CheckTimes(*claims, clock, options.leeway);
  if (!times.ok()) return times.error();
  s.iat = times->first;
  s.exp = times->second;

  auto jwks = claims->find("jwks");
  if (jwks == claims->end() || !jwks->is_object())
    return Invalid("\"jwks\" is missing or not an object");
  auto keys = jwks->find("keys");
  if (keys == jwks->end() || !keys->is_array() || keys->empty() || keys->size() > kMaxStatementKeys)
    return Invalid("\"jwks\" must hold 1 to " + std::to_string(kMaxStatementKeys) + " keys");
  auto parsed_keys = identity::ParseJwks(*jwks);
  if (!parsed_keys.ok()) return Invalid("\"jwks\": " + parsed_keys.error().message);
  s.jwks = std::move(parsed_keys).value();

  if (auto m = claims->find("metadata"); m != claims->end()) {
    if (!m->is_object()) return Invalid("\"metadata\" is not an object");
    s.metadata = *m;
  }
  if (auto hints = claims->find("authority_hints"); hints != claims->end()) {
    if (!s.IsConfiguration())
      return Invalid("\"authority_hints\" in a statement about another entity");
    if (!hints->is_array()) return Invalid("\"authority_hints\" is not an array");
    if (hints->size() > kMaxAuthorityHints)
      return Invalid("more than " + std::to_string(kMaxAuthorityHints) + " authority hints");
    for (const auto& hint : *hints) {
      if (!hint.is_string()) return Invalid("\"authority_hints\" entries must be strings");
      const auto& text = hint.get_ref<const std::string&>();
      if (auto ok = ValidateEntityId(text, options.allow_http); !ok.ok())
        return Invalid("\"authority_hints\": " + ok.error().message);
      s.authority_hints.push_back(text);
    }
  }
  if (auto c = claims->find("constraints"); c != claims->end()) {
    if (s.IsConfiguration()) return Invalid("\"constraints\" in an entity configuration");
    auto constraints = ParseConstraints(*c);
    if (!constraints.ok()) return constraints.error();
    s.constraints = std::move(constraints).value();
  }
  out.jws = std::move(jws).value();
  return out;
}

Status VerifyStatementSignature(const ParsedStatement& parsed,
                                const std::vector<identity::PublicJwk>& keys) {
  return VerifyWithKeys(parsed.jws, keys);
}

Result<std::string> SignWithdrawnList(const WithdrawnList& list, const identity::SigningKey& key) {
  KITH_RETURN_IF_ERROR(ValidateEntityId(list.iss, true));
  if (list.exp <= list.iat) return Invalid("exp must be after iat");
  if (list.withdrawn.size() > kMaxWithdrawnEntries)
    return Invalid("more than " + std::to_string(kMaxWithdrawnEntries) + " withdrawn entries");
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& entry : list.withdrawn) {
    KITH_RETURN_IF_ERROR(ValidateEntityId(entry.sub, true));
    entries.push_back({{"sub", entry.sub}, {"at", entry.at}});
  }
  nlohmann::json payload{
      {"iss", list.iss}, {"iat", list.iat}, {"exp", list.exp}, {"withdrawn", std::move(entries)}};
  const std::string header = nlohmann::json{
      {"alg", identity::JwsAlgorithmName(key.algorithm())},
      {"kid", key.kid()},
      {"typ", kWithdrawnListTyp}}.dump();
  auto compact = identity::SignJwsWithHeader(key, header, payload.dump());
  if (!compact.ok()) return compact.error();
  if (compact->size() > kMaxWithdrawnListBytes)
    return Invalid("the signed withdrawn list is larger than " +
                   std::to_string(kMaxWithdrawnListBytes) + " bytes");
  return compact;
}

Result<WithdrawnList> ParseWithdrawnList(std::string_view compact, std::string_view issuer,
                                         const std::vector<identity::PublicJwk>& keys,
                                         const Clock& clock, const StatementCheckOptions& options) {
  if (compact.size() > kMaxWithdrawnListBytes)
    return MakeError(
        ErrorCode::kTooLarge,
        "the withdrawn list is larger than " + std::to_string(kMaxWithdrawnListBytes) + " bytes",
        "too_large");
  auto jws = ParseLargeJws(compact);
  if (!jws.ok()) return jws.error();
  KITH_RETURN_IF_ERROR(CheckTyp(*jws, kWithdrawnListTyp));
  if (auto ok = VerifyWithKeys(*jws, keys); !ok.ok())
    return Unauthenticated("withdrawn list of " + Quote(issuer) + ": " + ok.error().message,
                           ok.error().reason);
  auto claims = identity::ParseJwtClaims(jws->payload);
  if (!claims.ok()) return Invalid("the payload is not a JSON object");
  WithdrawnList list;
  auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string()) return Invalid("\"iss\" is missing");
  if (*iss != issuer)
    return Unauthenticated("withdrawn list issued by " + Quote(iss->get<std::string>()) +
                               ", expected " + Quote(issuer),
                           "wrong_issuer");
  list.iss = iss->get<std::string>();
  auto times = CheckTimes(*claims, clock, options.leeway);
  if (!times.ok()) return times.error();
  list.iat = times->first;
  list.exp = times->second;
  auto entries = claims->find("withdrawn");
  if (entries == claims->end() || !entries->is_array())
    return Invalid("\"withdrawn\" is missing or not an array");
  if (entries->size() > kMaxWithdrawnEntries)
    return Invalid("more than " + std::to_string(kMaxWithdrawnEntries) + " withdrawn entries");
  list.withdrawn.reserve(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    const auto& entry = (*entries)[i];
    const std::string where = "withdrawn[" + std::to_string(i) + "]";
    if (!entry.is_object()) return Invalid(where + " is not an object");
    auto sub = EntityIdClaim(entry, "sub", options.allow_http);
    if (!sub.ok()) return Invalid(where + ": " + sub.error().message);
    auto at = IntegerClaim(entry, "at");
    if (!at) return Invalid(where + ": \"at\" is missing or not an integer");
    list.withdrawn.push_back({std::move(sub).value(), *at});
  }
  return list;
}

std::string FetchEndpointOf(const EntityStatement& configuration) {
  return MetadataString(configuration, "federation_entity", "federation_fetch_endpoint");
}

std::string ListEndpointOf(const EntityStatement& configuration) {
  return MetadataString(configuration, "federation_entity", "federation_list_endpoint");
}

std::string WithdrawnEndpointOf(const EntityStatement& configuration) {
  return MetadataString(configuration, "federation_entity", "kith_withdrawn_endpoint");
}

}  // namespace kith::federation
