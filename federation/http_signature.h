// HTTP Message Signatures (RFC 9421), the generic core: component values, the signature base,
// the Signature-Input / Signature fields, and Ed25519 signing and verification (libsodium).
//
// The kith profile (which components and parameters a federation message must carry, key
// lookup, replay protection) is in federation/signature_profile.h; this file knows nothing
// about policy.
//
// Messages are seen through HttpMessage, a neutral value type that the Beast server and
// client, tests and tools all fill in. All functions are pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "federation/structured_field.h"
#include "identity/node_keys.h"
#include "storage/result.h"

namespace kith::federation {

// A neutral view of one HTTP request or response.
//
// A request has a method and the absolute target URI ("https://host[:port]/path?query", what a
// server reconstructs from its scheme, Host and request-target); a response has a status.
// Header fields are kept as received: in order, names in any case, repeated names allowed.
struct HttpMessage {
  std::string method;      // requests only, e.g. "POST"
  std::string target_uri;  // requests only, absolute URI
  int status = 0;          // responses only (100..599); 0 marks a request
  std::vector<std::pair<std::string, std::string>> headers;

  bool IsRequest() const { return status == 0; }

  // All values of a header field (name compared case-insensitively), in order.
  std::vector<std::string_view> FieldValues(std::string_view name) const;
  // True if at least one line of the field is present.
  bool HasField(std::string_view name) const { return !FieldValues(name).empty(); }
  // Replaces every line of field `name` with one line `value`.
  void SetField(std::string_view name, std::string value);

  // Appends every field of a Beast-style fields container (anything iterable whose elements
  // have name_string() and value()), e.g. boost::beast::http::fields.
  template <class Fields>
  void AppendFields(const Fields& fields) {
    for (const auto& field : fields) {
      headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
  }
};

// One signature found in a message: the parsed Signature-Input member (covered components as
// sf strings with their parameters, signature parameters on the inner list) and the raw
// signature bytes of the Signature member with the same label.
struct SignatureEntry {
  std::string label;
  sf::InnerList input;
  std::string signature;
};

// The value of one covered component of `message` (RFC 9421 section 2). `component` is the
// component identifier: an sf string such as "@method" or "content-digest", with parameters
// sf, key, bs, req or name. `request` is the request a response answers, needed for ";req"
// components (nullptr when there is none).
// Errors (kUnauthenticated): reason "component_missing" when the message lacks the component,
// "unsupported_component" for an unknown derived component or an unsupported combination,
// "malformed_signature" for a malformed identifier or a field that does not parse with ;sf/;key.
Result<std::string> ComponentValue(const sf::Item& component, const HttpMessage& message,
                                   const HttpMessage* request);

// The signature base (RFC 9421 section 2.5) for the covered components and signature
// parameters in `input`: one `"name";params: value` line per component, then the
// "@signature-params" line, lines separated by "\n", no trailing newline.
// Errors as ComponentValue, plus "malformed_signature" for duplicate components.
Result<std::string> SignatureBase(const sf::InnerList& input, const HttpMessage& message,
                                  const HttpMessage* request);

// Finds the signature labelled `label`: parses the Signature-Input and Signature fields
// (several lines combined) as dictionaries and returns the matching members.
// Errors (kUnauthenticated): "missing_signature" when either field or the label is absent,
// "malformed_signature" when a field does not parse or a member has the wrong shape.
Result<SignatureEntry> FindSignature(const HttpMessage& message, std::string_view label);

// Adds a signature labelled `label` to the message's Signature-Input and Signature fields,
// keeping signatures with other labels (a member with the same label is replaced).
// Errors (kInvalidArgument): the existing fields do not parse, or the label is not a valid key.
Status AttachSignature(HttpMessage& message, std::string_view label, const sf::InnerList& input,
                       std::span<const uint8_t> signature);

// Ed25519 over `base` with a libsodium secret key (seed || public key, 64 bytes).
identity::Ed25519Signature SignEd25519(std::string_view base,
                                       std::span<const uint8_t, 64> secret_key);

// True if `signature` is a valid Ed25519 signature of `base` by `public_key`.
bool VerifyEd25519(std::string_view base, std::string_view signature,
                   const identity::Ed25519PublicKey& public_key);

}  // namespace kith::federation
