// Content-Digest (RFC 9530): the digest of a message's content, carried as a structured-field
// dictionary of byte sequences keyed by algorithm, e.g. `sha-256=:X48E9q...=:`.
//
// kith produces sha-256 and accepts sha-256 and sha-512. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "storage/result.h"

namespace kith::federation {

// The Content-Digest field value for `body` with sha-256: `sha-256=:<base64>:`.
std::string ContentDigestSha256(std::string_view body);

// The Content-Digest field value for `body` with sha-512 (for tests and peers that want it).
std::string ContentDigestSha512(std::string_view body);

// Checks a received Content-Digest field value against `body`.
// Unknown algorithms are ignored; every supported one present (sha-256, sha-512) must match,
// and at least one must be present.
// Errors (kUnauthenticated, reason): "malformed_digest" (not a dictionary of byte sequences),
// "unsupported_digest" (no supported algorithm), "digest_mismatch".
Status VerifyContentDigest(std::string_view field_value, std::string_view body);

}  // namespace kith::federation
