// NetworkOperator. See network_operator.h.
#include "federation/network_operator.h"

#include <spdlog/spdlog.h>
#include <set>
#include <utility>

namespace kith::federation {
namespace {

constexpr size_t kMaxReportErrors = 100;

std::string MetadataText(const nlohmann::json& metadata, const char* type, const char* member) {
  if (!metadata.is_object()) return "";
  auto t = metadata.find(type);
  if (t == metadata.end() || !t->is_object()) return "";
  auto m = t->find(member);
  if (m == t->end() || !m->is_string()) return "";
  return m->get<std::string>();
}

}  // namespace

bool SameKeys(const std::vector<identity::PublicJwk>& a,
              const std::vector<identity::PublicJwk>& b) {
  std::set<std::string> left, right;
  for (const auto& k : a) left.insert(k.Thumbprint());
  for (const auto& k : b) right.insert(k.Thumbprint());
  return left == right;
}

Result<MemberConfiguration> FetchMemberConfiguration(EntityFetcher& fetcher,
                                                     const std::string& entity_id,
                                                     const Clock& clock, bool allow_http) {
  KITH_RETURN_IF_ERROR(ValidateEntityId(entity_id, allow_http));
  auto body = fetcher.Get(entity_id + std::string(kEntityConfigurationPath));
  if (!body.ok()) {
    Error error = std::move(body).error();
    // A refused (SSRF guard) or oversized answer keeps its code; anything else is "down".
    const ErrorCode code = error.code == ErrorCode::kTooLarge ||
                                   error.code == ErrorCode::kPermissionDenied ||
                                   error.code == ErrorCode::kInvalidArgument
                               ? error.code
                               : ErrorCode::kUnavailable;
    return MakeError(
        code, "cannot fetch the entity configuration of " + entity_id + ": " + error.message);
  }
  StatementCheckOptions options;
  options.allow_http = allow_http;
  auto parsed = ParseEntityStatement(*body, clock, options);
  if (!parsed.ok()) {
    Error error = std::move(parsed).error();
    error.message = "the entity configuration of " + entity_id + " is not valid: " + error.message;
    return error;
  }
  const EntityStatement& s = parsed->statement;
  if (s.iss != entity_id || s.sub != entity_id) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the entity configuration at " + entity_id + " is not about itself (iss " +
                         s.iss.substr(0, 200) + ", sub " + s.sub.substr(0, 200) + ")");
  }
  Status verified = VerifyStatementSignature(*parsed, s.jwks);
  if (!verified.ok()) {
    Error error = std::move(verified).error();
    error.message = "the entity configuration of " + entity_id +
                    " is not signed by one of its own keys: " + error.message;
    return error;
  }
  MemberConfiguration out;
  out.statement = s;
  out.compact = std::move(body).value();
  out.kid = parsed->jws.kid;
  out.organisation = MetadataText(out.statement.metadata, "kith_node", "organisation");
  if (out.organisation.empty()) {
    out.organisation =
        MetadataText(out.statement.metadata, "federation_entity", "organization_name");
  }
  out.parsed = std::move(parsed).value();  // `s` refers into it: last
  return out;
}

NetworkOperator::NetworkOperator(NetworkStore& networks, const Clock& clock, bool allow_http)
    : networks_(networks), clock_(clock), allow_http_(allow_http) {}

Result<NetworkOperator::Report> NetworkOperator::Sweep(EntityFetcher& fetcher) {
  Report report;
  auto reissued = networks_.ReissueDue();
  if (!reissued.ok()) return std::move(reissued).error();
  report.reissued = *reissued;

  auto networks = networks_.Networks();
  if (!networks.ok()) return std::move(networks).error();
  for (const Network& network : *networks) {
    auto members = networks_.Members(network.name);
    if (!members.ok()) return std::move(members).error();
    for (const NetworkMember& member : *members) {
      if (member.withdrawn_at) continue;
      auto fail = [&](const std::string& why) -> Status {
        ++report.failed;
        if (report.errors.size() < kMaxReportErrors) {
          report.errors.push_back(network.name + " " + member.entity_id + ": " + why);
        }
        Status recorded = networks_.RecordMemberContact(network.name, member.entity_id, false, why);
        // A member withdrawn while the sweep ran is not an error of the sweep.
        if (!recorded.ok() && recorded.error().code != ErrorCode::kNotFound)
          return std::move(recorded).error();
        return OkStatus();
      };

      auto config = FetchMemberConfiguration(fetcher, member.entity_id, clock_, allow_http_);
      if (!config.ok()) {
        KITH_RETURN_IF_ERROR(fail(config.error().message));
        continue;
      }
      // Self-signed is not enough: it must be signed by a key the operator registered.
      Status registered = VerifyStatementSignature(config->parsed, member.keys);
      if (!registered.ok()) {
        spdlog::warn(
            "network {}: the entity configuration of {} is signed by key {}, which is not "
            "registered; keys not updated",
            network.name, member.entity_id, config->kid);
        KITH_RETURN_IF_ERROR(
            fail("entity configuration signed by a key that is not registered (kid " + config->kid +
                 "); re-add the member to register its keys"));
        continue;
      }
      if (!SameKeys(config->statement.jwks, member.keys)) {
        Status updated =
            networks_.UpdateMemberKeys(network.name, member.entity_id, config->statement.jwks);
        if (updated.ok()) {
          ++report.keys_updated;
          spdlog::info("network {}: registered the new keys of {}", network.name, member.entity_id);
        } else if (updated.error().code != ErrorCode::kNotFound) {
          KITH_RETURN_IF_ERROR(fail("cannot record its new keys: " + updated.error().message));
          continue;
        }
      }
      Status recorded = networks_.RecordMemberContact(network.name, member.entity_id, true);
      if (!recorded.ok() && recorded.error().code != ErrorCode::kNotFound)
        return std::move(recorded).error();
      ++report.contacted;
    }
  }
  return report;
}

}  // namespace kith::federation
