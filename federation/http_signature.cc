#include "federation/http_signature.h"

#include <sodium.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>

namespace kith::federation {
namespace {

Error SigError(std::string message, std::string reason) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message), std::move(reason));
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Base64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Percent-encodes everything but RFC 3986 unreserved characters (for @query-param).
std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0f]);
    }
  }
  return out;
}

// application/x-www-form-urlencoded decoding of one name or value ('+' is a space).
std::string FormDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Which structured type a field has, for ";sf" and ";key" (RFC 9421 section 2.1.1: the
// verifier must know the type). Fields not listed cannot be covered with ;sf.
enum class SfType { kUnknown, kItem, kList, kDictionary };

SfType KnownSfType(std::string_view name) {
  static constexpr std::pair<std::string_view, SfType> kTypes[] = {
      {"content-digest", SfType::kDictionary},
      {"repr-digest", SfType::kDictionary},
      {"want-content-digest", SfType::kDictionary},
      {"signature", SfType::kDictionary},
      {"signature-input", SfType::kDictionary},
      {"accept-signature", SfType::kDictionary},
      {"priority", SfType::kDictionary},
      {"example-dict", SfType::kDictionary},
      {"cache-status", SfType::kList},
      {"proxy-status", SfType::kList},
      {"example-list", SfType::kList},
      {"example-item", SfType::kItem},
  };
  for (const auto& [n, t] : kTypes) {
    if (n == name) return t;
  }
  return SfType::kUnknown;
}

Result<std::string> HeaderComponent(const std::string& name, const sf::Parameters& params,
                                    const HttpMessage& message) {
  const auto values = message.FieldValues(name);
  if (values.empty()) {
    return SigError("covered field '" + name + "' is not in the message", "component_missing");
  }
  const bool bs = sf::FindParam(params, "bs") != nullptr;
  const bool sf_flag = sf::FindParam(params, "sf") != nullptr;
  const sf::BareItem* key = sf::FindParam(params, "key");
  if (bs && (sf_flag || key)) {
    return SigError("';bs' cannot be combined with ';sf' or ';key'", "unsupported_component");
  }
  if (bs) {
    std::string out;
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out += ", ";
      out += ':' + Base64(TrimOws(values[i])) + ':';
    }
    return out;
  }
  std::string combined;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) combined += ", ";
    combined += TrimOws(values[i]);
  }
  if (!sf_flag && key == nullptr) return combined;

  const SfType type = KnownSfType(name);
  if (key != nullptr) {
    const auto* key_name = std::get_if<std::string>(key);
    if (key_name == nullptr) return SigError("';key' must be a string", "malformed_signature");
    if (type != SfType::kDictionary) {
      return SigError("'" + name + "' is not a known dictionary field", "unsupported_component");
    }
    auto dict = sf::ParseDictionary(combined);
    if (!dict.ok()) {
      return SigError("field '" + name + "' is not a dictionary: " + dict.error().message,
                      "malformed_signature");
    }
    const sf::ListMember* member = sf::FindMember(*dict, *key_name);
    if (member == nullptr) {
      return SigError("field '" + name + "' has no key '" + *key_name + "'", "component_missing");
    }
    sf::Dictionary one;
    one.emplace_back("k", *member);
    auto text = sf::SerializeDictionary(one);
    if (!text.ok()) return SigError(text.error().message, "malformed_signature");
    // Drop "k=" (or just "k" for a bare true member, whose serialization is its params).
    const std::string& s = *text;
    return s.size() > 1 && s[1] == '=' ? s.substr(2) : "?1" + s.substr(1);
  }
  Result<std::string> text = std::string();
  switch (type) {
    case SfType::kDictionary: {
      auto v = sf::ParseDictionary(combined);
      text = v.ok() ? sf::SerializeDictionary(*v) : Result<std::string>(std::move(v).error());
      break;
    }
    case SfType::kList: {
      auto v = sf::ParseList(combined);
      text = v.ok() ? sf::SerializeList(*v) : Result<std::string>(std::move(v).error());
      break;
    }
    case SfType::kItem: {
      auto v = sf::ParseItem(combined);
      text = v.ok() ? sf::SerializeItem(*v) : Result<std::string>(std::move(v).error());
      break;
    }
    case SfType::kUnknown:
      return SigError("'" + name + "' is not a known structured field", "unsupported_component");
  }
  if (!text.ok()) {
    return SigError("field '" + name + "' does not parse: " + text.error().message,
                    "malformed_signature");
  }
  return std::move(text).value();
}

Result<std::string> DerivedComponent(const std::string& name, const sf::Parameters& params,
                                     const HttpMessage& message) {
  if (name == "@status") {
    if (message.IsRequest()) {
      return SigError("'@status' is only defined for responses", "unsupported_component");
    }
    if (message.status < 100 || message.status > 999) {
      return SigError("response status out of range", "malformed_signature");
    }
    return std::to_string(message.status);
  }
  if (!message.IsRequest()) {
    return SigError("'" + name + "' of a response needs ';req'", "unsupported_component");
  }
  if (name == "@method") return message.method;
  if (name == "@target-uri") return message.target_uri;

  auto url = boost::urls::parse_uri(message.target_uri);
  if (!url.has_value()) {
    return SigError("target URI '" + message.target_uri + "' is not an absolute URI",
                    "malformed_signature");
  }
  const std::string scheme = Lower(url->scheme());
  if (name == "@scheme") return scheme;
  if (name == "@authority") {
    std::string authority = Lower(url->encoded_host());
    if (url->has_port()) {
      const std::string_view port = url->port();
      const bool default_port =
          (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
      if (!default_port && !port.empty()) authority += ":" + std::string(port);
    }
    return authority;
  }
  std::string path(url->encoded_path());
  if (path.empty()) path = "/";
  if (name == "@path") return path;
  if (name == "@query") return "?" + std::string(url->encoded_query());
  if (name == "@request-target") {
    return url->has_query() ? path + "?" + std::string(url->encoded_query()) : path;
  }
  if (name == "@query-param") {
    const auto* wanted = sf::FindParam(params, "name");
    const auto* wanted_name = wanted ? std::get_if<std::string>(wanted) : nullptr;
    if (wanted_name == nullptr) {
      return SigError("'@query-param' needs a string ';name'", "malformed_signature");
    }
    const std::string decoded_wanted = FormDecode(*wanted_name);
    std::string value;
    bool found = false;
    std::string_view query = url->encoded_query();
    while (url->has_query()) {
      const size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const size_t eq = pair.find('=');
      const std::string pname = FormDecode(pair.substr(0, eq));
      if (pname == decoded_wanted) {
        if (found) {
          return SigError("query parameter '" + pname + "' occurs more than once",
                          "unsupported_component");
        }
        found = true;
        value = eq == std::string_view::npos ? "" : PercentEncode(FormDecode(pair.substr(eq + 1)));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
    if (!found) {
      return SigError("query parameter '" + decoded_wanted + "' is not in the target URI",
                      "component_missing");
    }
    return value;
  }
  return SigError("unknown derived component '" + name + "'", "unsupported_component");
}

}  // namespace

std::vector<std::string_view> HttpMessage::FieldValues(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) out.emplace_back(v);
  }
  return out;
}

void HttpMessage::SetField(std::string_view name, std::string value) {
  std::erase_if(headers, [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
  headers.emplace_back(std::string(name), std::move(value));
}

Result<std::string> ComponentValue(const sf::Item& component, const HttpMessage& message,
                                   const HttpMessage* request) {
  const auto* name = std::get_if<std::string>(&component.value);
  if (name == nullptr || name->empty()) {
    return SigError("a component identifier must be a non-empty string", "malformed_signature");
  }
  for (const auto& [key, value] : component.params) {
    if (key != "sf" && key != "key" && key != "bs" && key != "req" && key != "name") {
      return SigError("unsupported component parameter ';" + key + "'", "unsupported_component");
    }
  }
  if (Lower(*name) != *name) {
    return SigError("component name '" + *name + "' must be lower case", "malformed_signature");
  }
  const HttpMessage* target = &message;
  if (sf::FindParam(component.params, "req") != nullptr) {
    if (message.IsRequest() || request == nullptr) {
      return SigError("';req' needs a response and its request", "unsupported_component");
    }
    target = request;
  }
  if ((*name)[0] == '@') {
    if (*name != "@query-param" && sf::FindParam(component.params, "name") != nullptr) {
      return SigError("';name' is only for '@query-param'", "unsupported_component");
    }
    return DerivedComponent(*name, component.params, *target);
  }
  if (sf::FindParam(component.params, "name") != nullptr) {
    return SigError("';name' is only for '@query-param'", "unsupported_component");
  }
  return HeaderComponent(*name, component.params, *target);
}

Result<std::string> SignatureBase(const sf::InnerList& input, const HttpMessage& message,
                                  const HttpMessage* request) {
  std::string base;
  std::vector<std::string> seen;
  for (const sf::Item& component : input.items) {
    auto id = sf::SerializeItem(component);
    if (!id.ok() || !std::holds_alternative<std::string>(component.value)) {
      return SigError("invalid component identifier", "malformed_signature");
    }
    for (const auto& s : seen) {
      if (s == *id)
        return SigError("component " + *id + " is covered twice", "malformed_signature");
    }
    seen.push_back(*id);
    auto value = ComponentValue(component, message, request);
    if (!value.ok()) return std::move(value).error();
    if (value->find('\n') != std::string::npos || value->find('\r') != std::string::npos) {
      return SigError("component " + *id + " contains a line break", "malformed_signature");
    }
    base += *id;
    base += ": ";
    base += *value;
    base += '\n';
  }
  auto params = sf::SerializeInnerList(input);
  if (!params.ok()) return SigError(params.error().message, "malformed_signature");
  base += "\"@signature-params\": ";
  base += *params;
  return base;
}

Result<SignatureEntry> FindSignature(const HttpMessage& message, std::string_view label) {
  auto combine = [&](std::string_view name) {
    std::string out;
    for (auto v : message.FieldValues(name)) {
      if (!out.empty()) out += ", ";
      out += v;
    }
    return out;
  };
  if (!message.HasField("signature-input") || !message.HasField("signature")) {
    return SigError("the message has no Signature-Input and Signature fields", "missing_signature");
  }
  auto inputs = sf::ParseDictionary(combine("signature-input"));
  if (!inputs.ok()) {
    return SigError("Signature-Input does not parse: " + inputs.error().message,
                    "malformed_signature");
  }
  auto signatures = sf::ParseDictionary(combine("signature"));
  if (!signatures.ok()) {
    return SigError("Signature does not parse: " + signatures.error().message,
                    "malformed_signature");
  }
  const sf::ListMember* input = sf::FindMember(*inputs, label);
  const sf::ListMember* signature = sf::FindMember(*signatures, label);
  if (input == nullptr || signature == nullptr) {
    return SigError("no signature labelled '" + std::string(label) + "'", "missing_signature");
  }
  const auto* inner = std::get_if<sf::InnerList>(input);
  if (inner == nullptr) {
    return SigError("Signature-Input member is not an inner list", "malformed_signature");
  }
  for (const auto& item : inner->items) {
    if (!std::holds_alternative<std::string>(item.value)) {
      return SigError("Signature-Input lists a component that is not a string",
                      "malformed_signature");
    }
  }
  const auto* item = std::get_if<sf::Item>(signature);
  const auto* bytes = item ? std::get_if<sf::ByteSequence>(&item->value) : nullptr;
  if (bytes == nullptr) {
    return SigError("Signature member is not a byte sequence", "malformed_signature");
  }
  return SignatureEntry{std::string(label), *inner, bytes->bytes};
}

Status AttachSignature(HttpMessage& message, std::string_view label, const sf::InnerList& input,
                       std::span<const uint8_t> signature) {
  if (!sf::IsValidKey(label)) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid signature label");
  }
  auto update = [&](std::string_view field, sf::ListMember member) -> Status {
    std::string combined;
    for (auto v : message.FieldValues(field)) {
      if (!combined.empty()) combined += ", ";
      combined += v;
    }
    auto dict = sf::ParseDictionary(combined);
    if (!dict.ok()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "existing " + std::string(field) + " does not parse");
    }
    std::erase_if(*dict, [&](const auto& m) { return m.first == label; });
    dict->emplace_back(std::string(label), std::move(member));
    auto text = sf::SerializeDictionary(*dict);
    if (!text.ok()) return std::move(text).error();
    message.SetField(field, std::move(*text));
    return OkStatus();
  };
  KITH_RETURN_IF_ERROR(update("Signature-Input", input));
  std::string bytes(reinterpret_cast<const char*>(signature.data()), signature.size());
  return update("Signature", sf::Item{sf::ByteSequence{std::move(bytes)}, {}});
}

identity::Ed25519Signature SignEd25519(std::string_view base,
                                       std::span<const uint8_t, 64> secret_key) {
  identity::Ed25519Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(base.data()),
                       base.size(), secret_key.data());
  return sig;
}

bool VerifyEd25519(std::string_view base, std::string_view signature,
                   const identity::Ed25519PublicKey& public_key) {
  if (signature.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(base.data()),
                                     base.size(), public_key.data()) == 0;
}

}  // namespace kith::federation
