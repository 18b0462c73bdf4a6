#include "federation/node_document.h"

#include <sodium.h>

#include <boost/url/parse.hpp>
#include <nlohmann/json.hpp>

namespace kith::federation {
namespace {

using nlohmann::json;

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "node document: " + std::move(message));
}

Result<std::string> RequiredString(const json& obj, const char* name, std::string_view where) {
  auto it = obj.find(name);
  if (it == obj.end()) return Invalid(std::string(where) + name + " is missing");
  if (!it->is_string()) return Invalid(std::string(where) + name + " must be a string");
  std::string value = it->get<std::string>();
  if (value.empty()) return Invalid(std::string(where) + name + " must not be empty");
  if (value.size() > 2048) return Invalid(std::string(where) + name + " is too long");
  return value;
}

Result<int64_t> RequiredInteger(const json& obj, const char* name, std::string_view where) {
  auto it = obj.find(name);
  if (it == obj.end()) return Invalid(std::string(where) + name + " is missing");
  if (!it->is_number_integer()) return Invalid(std::string(where) + name + " must be an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return Invalid(std::string(where) + name + " is out of range");
  }
  return it->get<int64_t>();
}

Result<NodeDocumentKey> ParseKey(const json& k, size_t index) {
  const std::string where = "keys[" + std::to_string(index) + "].";
  if (!k.is_object()) return Invalid("keys[" + std::to_string(index) + "] must be an object");
  NodeDocumentKey key;
  auto kid = RequiredString(k, "kid", where);
  if (!kid.ok()) return std::move(kid).error();
  key.kid = std::move(*kid);
  auto alg = RequiredString(k, "alg", where);
  if (!alg.ok()) return std::move(alg).error();
  if (*alg != "ed25519") return Invalid(where + "alg \"" + *alg + "\" is not supported");
  key.alg = std::move(*alg);
  auto pk = RequiredString(k, "public_key", where);
  if (!pk.ok()) return std::move(pk).error();
  size_t len = 0;
  if (sodium_base642bin(key.public_key.data(), key.public_key.size(), pk->data(), pk->size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      len != key.public_key.size()) {
    return Invalid(where + "public_key must be base64url (no padding) of 32 bytes");
  }
  auto created = RequiredInteger(k, "created_at", where);
  if (!created.ok()) return std::move(created).error();
  key.created_at = *created;
  if (auto it = k.find("not_after"); it != k.end() && !it->is_null()) {
    auto not_after = RequiredInteger(k, "not_after", where);
    if (!not_after.ok()) return std::move(not_after).error();
    if (*not_after < key.created_at) return Invalid(where + "not_after is before created_at");
    key.not_after = *not_after;
  }
  auto status = RequiredString(k, "status", where);
  if (!status.ok()) return std::move(status).error();
  if (*status != "current" && *status != "retiring" && *status != "retired") {
    return Invalid(where + "status must be current, retiring or retired");
  }
  key.status = std::move(*status);
  return key;
}

}  // namespace

Result<NodeDocument> ParseNodeDocument(std::string_view json_text) {
  if (json_text.size() > kMaxNodeDocumentBytes) return Invalid("larger than 64 KiB");
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("not valid JSON");
  if (!j.is_object()) return Invalid("must be a JSON object");
  NodeDocument doc;
  for (auto [name, field] :
       {std::pair{"id", &doc.id}, std::pair{"name", &doc.name},
        std::pair{"organisation", &doc.organisation}, std::pair{"base_url", &doc.base_url}}) {
    auto value = RequiredString(j, name, "");
    if (!value.ok()) return std::move(value).error();
    *field = std::move(*value);
  }
  auto url = boost::urls::parse_absolute_uri(doc.base_url);
  if (!url.has_value() || (url->scheme() != "https" && url->scheme() != "http") ||
      url->encoded_host().empty() || url->has_query() || url->has_fragment() ||
      url->has_userinfo()) {
    return Invalid("base_url must be an http(s) URL with a host and no query or credentials");
  }
  auto version = RequiredInteger(j, "version", "");
  if (!version.ok()) return std::move(version).error();
  if (*version < 1) return Invalid("version must be at least 1");
  doc.version = *version;
  auto keys = j.find("keys");
  if (keys == j.end() || !keys->is_array()) return Invalid("keys must be an array");
  if (keys->empty()) return Invalid("keys must not be empty");
  if (keys->size() > kMaxNodeDocumentKeys) return Invalid("too many keys");
  for (size_t i = 0; i < keys->size(); ++i) {
    auto key = ParseKey((*keys)[i], i);
    if (!key.ok()) return std::move(key).error();
    for (const auto& existing : doc.keys) {
      if (existing.kid == key->kid) return Invalid("duplicate kid \"" + key->kid + "\"");
    }
    doc.keys.push_back(std::move(*key));
  }
  return doc;
}

std::string SerializeNodeDocument(const NodeDocument& document) {
  json keys = json::array();
  for (const auto& k : document.keys) {
    char pk[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(pk, sizeof(pk), k.public_key.data(), k.public_key.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    json key = json::object();
    key["kid"] = k.kid;
    key["alg"] = k.alg;
    key["public_key"] = pk;
    key["created_at"] = k.created_at;
    if (k.not_after) key["not_after"] = *k.not_after;
    key["status"] = k.status;
    keys.push_back(std::move(key));
  }
  nlohmann::ordered_json out;
  out["id"] = document.id;
  out["name"] = document.name;
  out["organisation"] = document.organisation;
  out["base_url"] = document.base_url;
  out["keys"] = nlohmann::ordered_json::parse(keys.dump());
  out["version"] = document.version;
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kith::federation
