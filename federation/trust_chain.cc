#include "federation/trust_chain.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>
#include <set>

#include "identity/node_keys.h"

namespace kith::federation {
namespace {

Error ChainError(std::string message, std::string reason = "invalid_trust_chain") {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message), std::move(reason));
}

// Untrusted text in an error message, bounded.
std::string Short(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200))
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  if (text.size() > 200) out += "...";
  return out;
}

// "statement 2 (A about B)" for error messages; iss/sub read without trusting anything.
std::string Describe(size_t index, std::string_view compact) {
  std::string out = "statement " + std::to_string(index);
  auto jws = identity::ParseJws(compact);
  if (!jws.ok()) return out;
  auto claims = nlohmann::json::parse(jws->payload, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) return out;
  auto iss = claims.find("iss");
  auto sub = claims.find("sub");
  if (iss == claims.end() || sub == claims.end() || !iss->is_string() || !sub->is_string())
    return out;
  if (*iss == *sub) return out + " (" + Short(iss->get<std::string>()) + " about itself)";
  return out + " (" + Short(iss->get<std::string>()) + " about " + Short(sub->get<std::string>()) +
         ")";
}

Error At(size_t index, std::string_view compact, const Error& error) {
  return MakeError(error.code, Describe(index, compact) + ": " + error.message,
                   error.reason.empty() ? "invalid_trust_chain" : error.reason);
}

// RFC 3986 percent-encoding of everything but unreserved characters (for ?sub=).
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

const TrustAnchor* FindAnchor(const std::vector<TrustAnchor>& anchors, std::string_view id) {
  for (const auto& a : anchors)
    if (a.entity_id == id) return &a;
  return nullptr;
}

}  // namespace

Result<TrustChain> VerifyTrustChain(const std::vector<std::string>& statements,
                                    const std::vector<TrustAnchor>& anchors, const Clock& clock,
                                    const ResolveOptions& options) {
  const size_t n = statements.size();
  if (n < 3)
    return ChainError(
        "a trust chain has at least 3 statements (leaf configuration, statement "
        "about the leaf, anchor configuration), got " +
        std::to_string(n));
  if (n - 2 > static_cast<size_t>(std::max(options.max_superiors, 0)))
    return ChainError("the chain has " + std::to_string(n - 2) + " superiors, more than " +
                      std::to_string(options.max_superiors) + " allowed (max_superiors)");

  std::vector<ParsedStatement> parsed;
  parsed.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto p = ParseEntityStatement(statements[i], clock, options.check);
    if (!p.ok()) return At(i, statements[i], p.error());
    parsed.push_back(std::move(p).value());
  }
  const EntityStatement& leaf = parsed.front().statement;
  const EntityStatement& anchor_ec = parsed.back().statement;

  // Shape: configuration, subordinate statements, configuration; each statement about the
  // issuer of the one before it.
  if (!leaf.IsConfiguration())
    return At(0, statements[0], ChainError("the first statement is not an entity configuration"));
  if (!anchor_ec.IsConfiguration())
    return At(n - 1, statements[n - 1],
              ChainError("the last statement is not an entity configuration"));
  for (size_t j = 1; j + 1 < n; ++j) {
    const EntityStatement& s = parsed[j].statement;
    if (s.IsConfiguration())
      return At(j, statements[j], ChainError("expected a subordinate statement"));
    const std::string& below = parsed[j - 1].statement.iss;
    if (s.sub != below)
      return At(j, statements[j],
                ChainError("sub mismatch: the statement is about " + Short(s.sub) +
                           ", the chain needs one about " + Short(below)));
  }
  if (anchor_ec.iss != parsed[n - 2].statement.iss)
    return At(n - 1, statements[n - 1],
              ChainError("the anchor configuration is by " + Short(anchor_ec.iss) +
                         ", but the last subordinate statement is by " +
                         Short(parsed[n - 2].statement.iss)));

  // Loops: every entity once.
  std::set<std::string> seen;
  for (size_t j = 0; j + 1 < n; ++j) {
    if (!seen.insert(parsed[j].statement.iss).second)
      return ChainError("loop: " + Short(parsed[j].statement.iss) + " appears twice in the chain");
  }

  // The anchor: trusted, pinned by fingerprint, and its configuration signed by a pinned key
  // (so that the pinned key vouches for every other key the configuration lists).
  const TrustAnchor* anchor = FindAnchor(anchors, anchor_ec.iss);
  if (anchor == nullptr)
    return ChainError("untrusted anchor: " + Short(anchor_ec.iss) + " is not a trust anchor",
                      "untrusted_anchor");
  std::vector<identity::PublicJwk> pinned;
  for (const auto& key : anchor_ec.jwks) {
    auto raw = key.ed25519();
    if (raw && identity::Fingerprint(*raw) == anchor->fingerprint) pinned.push_back(key);
  }
  if (pinned.empty())
    return ChainError("anchor fingerprint mismatch: no key of " + Short(anchor_ec.iss) +
                          " has the configured fingerprint " + Short(anchor->fingerprint),
                      "untrusted_anchor");
  if (auto ok = VerifyStatementSignature(parsed.back(), pinned); !ok.ok())
    return At(n - 1, statements[n - 1],
              ChainError("not signed by the anchor's pinned key (" + ok.error().message + ")",
                         ok.error().reason));

  // Signatures: each statement by a key its issuer's superior (or the anchor) lists.
  for (size_t j = 0; j + 1 < n; ++j) {
    const std::vector<identity::PublicJwk>& keys = parsed[j + 1].statement.jwks;
    if (auto ok = VerifyStatementSignature(parsed[j], keys); !ok.ok()) {
      const std::string who =
          j == 0       ? "the superior's statement about the leaf"
          : j + 2 == n ? "the anchor's configuration"
                       : "the superior's statement about " + Short(parsed[j].statement.iss);
      return At(j, statements[j],
                ChainError(ok.error().message + ": not signed by a key " + who + " lists",
                           ok.error().reason));
    }
  }

  // Constraints of statement j (about X = the entity of statement j-1's issuer): the
  // entities below X are the issuers of statements 0..j-2; intermediates among them: j-2.
  for (size_t j = 2; j + 1 < n; ++j) {
    const auto& constraints = parsed[j].statement.constraints;
    if (!constraints) continue;
    const std::string& x = parsed[j].statement.sub;
    const size_t intermediates = j - 2;
    if (constraints->max_path_length &&
        intermediates > static_cast<size_t>(*constraints->max_path_length))
      return At(j, statements[j],
                ChainError("max_path_length " + std::to_string(*constraints->max_path_length) +
                           " violated: " + std::to_string(intermediates) +
                           " intermediates between " + Short(x) + " and the leaf"));
    if (constraints->naming_constraints) {
      for (size_t k = 0; k + 1 < j; ++k) {
        const std::string& below = parsed[k].statement.iss;
        if (!SatisfiesNamingConstraints(below, *constraints->naming_constraints))
          return At(j, statements[j], ChainError("naming constraints violated by " + Short(below)));
      }
    }
  }

  TrustChain chain;
  chain.subject = leaf.sub;
  chain.anchor = anchor_ec.iss;
  for (size_t j = 1; j + 1 < n; ++j) chain.superiors.push_back(parsed[j].statement.iss);
  chain.statements = statements;
  chain.expires_at = parsed.front().statement.exp;
  for (const auto& p : parsed) chain.expires_at = std::min(chain.expires_at, p.statement.exp);
  chain.subject_keys = parsed[1].statement.jwks;
  chain.subject_configuration = leaf;
  return chain;
}

std::string SubordinateStatementUrl(std::string_view fetch_endpoint, std::string_view subject) {
  std::string url(fetch_endpoint);
  url += "?sub=";
  url += PercentEncode(subject);
  return url;
}

struct TrustChainResolver::Impl {
  Impl(EntityFetcher& f, std::vector<TrustAnchor> a, const Clock& c, ResolveOptions o)
      : fetcher(f), anchors(std::move(a)), clock(c), options(std::move(o)) {}

  struct CachedConfiguration {
    std::string compact;
    EntityStatement statement;
    int64_t fetched_at = 0;
  };

  EntityFetcher& fetcher;
  const std::vector<TrustAnchor> anchors;
  const Clock& clock;
  const ResolveOptions options;
  std::atomic<uint64_t> fetches{0};
  std::mutex mu;
  std::map<std::string, CachedConfiguration> cache;  // guarded by mu

  Result<std::string> Get(const std::string& url) {
    fetches.fetch_add(1, std::memory_order_relaxed);
    return fetcher.Get(url);
  }

  // Fetches and parses `entity_id`'s configuration, signature checked with its own keys
  // when `verify` (a leaf's is checked by VerifyTrustChain against its superior's keys).
  Result<CachedConfiguration> FetchConfiguration(const std::string& entity_id, bool verify = true) {
    KITH_RETURN_IF_ERROR(ValidateEntityId(entity_id, options.check.allow_http));
    auto body = Get(entity_id + std::string(kEntityConfigurationPath));
    if (!body.ok())
      return MakeError(
          body.error().code,
          "fetching the configuration of " + Short(entity_id) + ": " + body.error().message,
          body.error().reason);
    auto parsed = ParseEntityStatement(*body, clock, options.check);
    if (!parsed.ok())
      return MakeError(parsed.error().code,
                       "the configuration of " + Short(entity_id) + ": " + parsed.error().message,
                       parsed.error().reason);
    if (parsed->statement.iss != entity_id || parsed->statement.sub != entity_id)
      return ChainError("the configuration served for " + Short(entity_id) + " is about " +
                        Short(parsed->statement.sub) + " by " + Short(parsed->statement.iss));
    if (auto ok = verify ? VerifyStatementSignature(*parsed, parsed->statement.jwks) : OkStatus();
        !ok.ok())
      return MakeError(ok.error().code,
                       "the configuration of " + Short(entity_id) + ": " + ok.error().message,
                       ok.error().reason);
    CachedConfiguration out;
    out.compact = std::move(body).value();
    out.statement = std::move(parsed->statement);
    out.fetched_at = clock.UnixSeconds();
    return out;
  }

  // Through the cache (for superiors): fresh for config_cache_ttl and while not expired.
  Result<CachedConfiguration> CachedFetch(const std::string& entity_id) {
    const int64_t now = clock.UnixSeconds();
    {
      std::lock_guard lock(mu);
      auto it = cache.find(entity_id);
      if (it != cache.end()) {
        if (now - it->second.fetched_at < options.config_cache_ttl.count() &&
            it->second.statement.exp > now)
          return it->second;
        cache.erase(it);
      }
    }
    auto fetched = FetchConfiguration(entity_id);
    if (!fetched.ok()) return fetched;
    std::lock_guard lock(mu);
    cache[entity_id] = *fetched;
    return fetched;
  }

  // One path tried, and why it failed.
  struct Attempt {
    std::vector<std::string> errors;
    bool only_unavailable = true;
    void Fail(const std::string& path, const Error& e) {
      if (e.code != ErrorCode::kUnavailable) only_unavailable = false;
      if (errors.size() < 16) errors.push_back(path + ": " + e.message);
    }
  };

  // Tries `superior` as the issuer of a statement about the last entity of `chain` (whose
  // entity id is `below`), then recurses over the superior's hints. `chain` holds the
  // statements so far (leaf configuration first); `path` names the entities so far.
  std::optional<TrustChain> Walk(std::vector<std::string>& chain, std::vector<std::string>& path,
                                 const std::string& below, const std::string& superior,
                                 Attempt& attempt) {
    std::string where;
    for (const auto& p : path) where += Short(p) + " -> ";
    where += Short(superior);
    if (std::find(path.begin(), path.end(), superior) != path.end()) {
      attempt.Fail(where, ChainError("loop: " + Short(superior) + " appears twice"));
      return std::nullopt;
    }
    if (static_cast<int>(path.size()) > options.max_superiors) {
      attempt.Fail(where, ChainError("longer than " + std::to_string(options.max_superiors) +
                                     " superiors (max_superiors)"));
      return std::nullopt;
    }
    auto config = CachedFetch(superior);
    if (!config.ok()) {
      attempt.Fail(where, config.error());
      return std::nullopt;
    }
    const std::string endpoint = FetchEndpointOf(config->statement);
    if (endpoint.empty() || !ValidateEntityId(endpoint, options.check.allow_http).ok()) {
      attempt.Fail(where, ChainError(Short(superior) + " has no valid federation_fetch_endpoint"));
      return std::nullopt;
    }
    auto statement = Get(SubordinateStatementUrl(endpoint, below));
    if (!statement.ok()) {
      attempt.Fail(
          where, MakeError(statement.error().code, "fetching the statement about " + Short(below) +
                                                       ": " + statement.error().message));
      return std::nullopt;
    }
    // Early checks on what the chain verification would refuse anyway, so that a wrong
    // answer does not lead the walk further up.
    auto parsed = ParseEntityStatement(*statement, clock, options.check);
    if (!parsed.ok()) {
      attempt.Fail(where, At(path.size(), *statement, parsed.error()));
      return std::nullopt;
    }
    if (parsed->statement.iss != superior || parsed->statement.sub != below) {
      attempt.Fail(where, ChainError("the fetch endpoint of " + Short(superior) +
                                     " answered a statement about " + Short(parsed->statement.sub) +
                                     " by " + Short(parsed->statement.iss)));
      return std::nullopt;
    }

    chain.push_back(std::move(statement).value());
    path.push_back(superior);
    std::optional<TrustChain> found;
    if (FindAnchor(anchors, superior) != nullptr) {
      chain.push_back(config->compact);
      auto verified = VerifyTrustChain(chain, anchors, clock, options);
      chain.pop_back();
      if (verified.ok())
        found = std::move(verified).value();
      else
        attempt.Fail(where, verified.error());
    } else if (config->statement.authority_hints.empty()) {
      attempt.Fail(where, ChainError(Short(superior) +
                                     " is not a trusted anchor and has no authority hints"));
    } else {
      for (const auto& hint : config->statement.authority_hints) {
        found = Walk(chain, path, superior, hint, attempt);
        if (found) break;
      }
    }
    path.pop_back();
    chain.pop_back();
    return found;
  }
};

TrustChainResolver::TrustChainResolver(EntityFetcher& fetcher, std::vector<TrustAnchor> anchors,
                                       const Clock& clock, ResolveOptions options)
    : impl_(std::make_shared<Impl>(fetcher, anchors, clock, std::move(options))),
      anchors_(std::move(anchors)) {}

Result<TrustChain> TrustChainResolver::Resolve(const std::string& subject,
                                               const std::vector<std::string>& extra_hints) {
  Impl& impl = *impl_;
  // The leaf's signature is checked by VerifyTrustChain, against the keys its superior lists.
  auto leaf = impl.FetchConfiguration(subject, /*verify=*/false);
  if (!leaf.ok()) return leaf.error();
  std::vector<std::string> hints = leaf->statement.authority_hints;
  for (const auto& h : extra_hints)
    if (std::find(hints.begin(), hints.end(), h) == hints.end()) hints.push_back(h);
  if (hints.empty())
    return MakeError(ErrorCode::kNotFound,
                     Short(subject) + " names no authority hints and none were given",
                     "no_trust_chain");

  Impl::Attempt attempt;
  std::vector<std::string> chain{leaf->compact};
  std::vector<std::string> path{subject};
  for (const auto& hint : hints) {
    if (!ValidateEntityId(hint, impl.options.check.allow_http).ok()) {
      attempt.Fail(Short(subject) + " -> " + Short(hint),
                   ChainError("not a valid entity identifier"));
      continue;
    }
    auto found = impl.Walk(chain, path, subject, hint, attempt);
    if (found) return std::move(*found);
  }
  std::string message = "no valid trust chain for " + Short(subject) + ":";
  for (const auto& e : attempt.errors) message += " [" + e + "]";
  return MakeError(attempt.only_unavailable ? ErrorCode::kUnavailable : ErrorCode::kUnauthenticated,
                   std::move(message), "no_trust_chain");
}

Result<EntityStatement> TrustChainResolver::Configuration(const std::string& entity_id) {
  auto config = impl_->CachedFetch(entity_id);
  if (!config.ok()) return config.error();
  return std::move(config->statement);
}

uint64_t TrustChainResolver::fetches() const {
  return impl_->fetches.load(std::memory_order_relaxed);
}

}  // namespace kith::federation
