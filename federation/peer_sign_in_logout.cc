// PeerSignIn's back-channel logout half ("sign out everywhere"; see federation/peer_sign_in.h).
// In its own file: with these beside Provider and Redeem, GCC 12 inlines the awaitable frames
// across them and reports a false -Wmismatched-new-delete.
#include "federation/peer_sign_in.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <utility>

namespace kith::federation {

void PeerSignIn::DeliverLogouts(std::vector<identity::BackchannelLogout> logouts) {
  if (!context_.executor) {
    for (const auto& l : logouts)
      spdlog::warn("sign-out everywhere: no executor, logout for {} not sent", l.client_id);
    return;
  }
  for (auto& l : logouts) {
    boost::asio::co_spawn(context_.executor, DeliverLogout(std::move(l)), boost::asio::detached);
  }
}

boost::asio::awaitable<void> PeerSignIn::DeliverLogout(identity::BackchannelLogout logout) {
  const std::string body = "logout_token=" + logout.logout_token;  // base64url: no escaping
  std::string last;
  for (const auto delay : context_.logout_retry_delays) {
    if (delay.count() > 0) {
      boost::asio::steady_timer timer(context_.executor, delay);
      boost::system::error_code ec;
      co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
    }
    HttpMessage request;
    request.method = "POST";
    request.target_uri = logout.uri;
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    request.headers.emplace_back("Accept", "application/json");
    auto response = co_await client_.Send(std::move(request), body);
    if (response.ok()) {
      const int status = response->message.status;
      if (status >= 200 && status < 300) {
        spdlog::info("sign-out everywhere: {} ended the member's sessions", logout.client_id);
        std::lock_guard lock(mu_);
        ++logout_stats_.delivered;
        co_return;
      }
      if (status >= 400 && status < 500) {
        spdlog::warn("sign-out everywhere: {} refused the logout token: HTTP {} {}",
                     logout.client_id, status, response->body.substr(0, 300));
        std::lock_guard lock(mu_);
        ++logout_stats_.refused;
        co_return;
      }
      last = "HTTP " + std::to_string(status);
    } else {
      last = response.error().message;
    }
  }
  spdlog::warn(
      "sign-out everywhere: {} could not be told ({}); the member's sessions there end at their "
      "expiry",
      logout.client_id, last);
  std::lock_guard lock(mu_);
  ++logout_stats_.gave_up;
}

LogoutDeliveryStats PeerSignIn::logout_stats() const {
  std::lock_guard lock(mu_);
  return logout_stats_;
}

Result<std::string> PeerSignIn::LogoutTokenPeer(std::string_view logout_token) {
  auto issuer = identity::PeekLogoutTokenIssuer(logout_token);
  if (!issuer.ok()) return std::move(issuer).error();
  auto peer = FindActivePeer(*issuer);
  if (!peer.ok() || peer->node_id != *issuer) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "logout token: the issuer " + issuer->substr(0, 200) +
                         " is not an active peer of this node",
                     "unknown_peer");
  }
  return issuer;
}

Result<identity::VerifiedLogout> PeerSignIn::CheckLogoutToken(std::string_view logout_token,
                                                              const PeerProvider& provider) const {
  return identity::VerifyLogoutToken(logout_token, provider.keys, provider.issuer,
                                     context_.base_url, clock_);
}

bool PeerSignIn::WorthRefetching(const PeerProvider& provider) const {
  return clock_.UnixSeconds() - provider.fetched_at >= 30;
}

}  // namespace kith::federation
