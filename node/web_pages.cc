// The member-facing pages (node/web.h): sign in, sign out, account, and the GOV.UK Frontend
// assets they are styled with.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "node/await.h"
#include "node/web.h"
#include "node/web_util.h"

#ifndef KITH_DEFAULT_ASSETS_DIR
#define KITH_DEFAULT_ASSETS_DIR ""
#endif

namespace kith::node {
namespace {

namespace asio = boost::asio;
using identity::Member;
using identity::SecretString;
using identity::Session;
using nlohmann::json;

// Forms are small; a larger body is refused before it is read.
constexpr uint64_t kMaxFormBytes = 64 * 1024;
// Largest asset served (GOV.UK Frontend's biggest file, its source map, is ~0.5 MiB).
constexpr std::uintmax_t kMaxAssetBytes = 8 * 1024 * 1024;
// Assets are not fingerprinted, so they are cached for a day rather than forever.
constexpr std::string_view kAssetCacheControl = "public, max-age=86400";
// Longest username (handle, email or handle@node) looked up.
constexpr size_t kMaxUsernameBytes = 320;

constexpr std::string_view kWrongCredentials =
    "Enter a correct username (or email address) and password";

// The file types served under /assets/. Anything else is a 404: in particular the GDS
// Transport font files, which are reserved for GOV.UK (the styles then fall back to Arial).
struct AssetType {
  std::string_view extension;
  std::string_view content_type;
};
constexpr AssetType kAssetTypes[] = {
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".map", "application/json"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "23 November 2026 at 17:43 UTC".
std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "";
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%e %B %Y at %H:%M UTC", &tm);
  return std::string(TrimSpace(std::string_view(buf, n)));
}

// "45 seconds", "1 minute", "15 minutes" (rounded up to whole minutes from 2 minutes on).
std::string FormatWait(std::chrono::seconds wait) {
  const long s = std::max<long>(1, static_cast<long>(wait.count()));
  if (s < 120) return std::to_string(s) + (s == 1 ? " second" : " seconds");
  const long m = (s + 59) / 60;
  return std::to_string(m) + " minutes";
}

// The form's value of `name`, removed from the form and wrapped so that it is wiped.
SecretString TakeSecret(identity::OidcParams& form, std::string_view name) {
  auto it = form.values.find(name);
  if (it == form.values.end()) return SecretString();
  SecretString secret(it->second);
  sodium_memzero(it->second.data(), it->second.size());
  form.values.erase(it);
  return secret;
}

// An error for the summary and the field: {text, href: "#field"}.
void AddFieldError(json& data, std::string_view field, std::string_view text) {
  if (!data.contains("error_summary")) data["error_summary"] = {{"errors", json::array()}};
  data["error_summary"]["errors"].push_back({{"text", text}, {"href", "#" + std::string(field)}});
  if (!data["field_errors"].is_object()) data["field_errors"] = json::object();
  if (!data["field_errors"].contains(field)) data["field_errors"][std::string(field)] = text;
}

bool HasErrors(const json& data) { return data.contains("error_summary"); }

// Turns "display_name: must be at most 100 characters" (identity's field errors) into
// "Full name must be at most 100 characters".
std::string FieldMessage(std::string_view label, const Error& error) {
  std::string_view message = error.message;
  size_t colon = message.find(": ");
  if (colon != std::string_view::npos) message = message.substr(colon + 2);
  return std::string(label) + " " + std::string(message);
}

// "the password must ..." -> "The password must ...".
std::string Sentence(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text;
}

void CopySetCookies(const Response& from, Response& to) {
  for (const auto& field : from.base()) {
    if (field.name() == http::field::set_cookie) to.insert(http::field::set_cookie, field.value());
  }
}

struct AssetFile {
  std::string body;
  std::string_view content_type;
};

class WebPages {
 public:
  explicit WebPages(const WebContext& context) : c_(context) {
    std::filesystem::path dir =
        c_.config != nullptr ? c_.config->web.assets_dir : std::filesystem::path();
    const bool configured = !dir.empty();
    if (!configured) dir = KITH_DEFAULT_ASSETS_DIR;
    std::error_code ec;
    if (!dir.empty() && std::filesystem::is_directory(dir, ec)) {
      assets_dir_ = std::filesystem::canonical(dir, ec);
      if (ec) assets_dir_.clear();
    }
    if (assets_dir_.empty()) {
      spdlog::warn(
          "web: no GOV.UK Frontend assets at {} ({}): pages are served without styles; run "
          "scripts/setup or set web.assets_dir",
          dir.empty() ? "(none)" : dir.string(), configured ? "web.assets_dir" : "the default");
    }
  }

  // Adds the routes; each holds a reference to `self`, so the pages live as long as the routes.
  static void Register(Router& router, const std::shared_ptr<WebPages>& self) {
    const RouteOptions form{kMaxFormBytes};
    router.AddOrDie(http::verb::get, "/sign-in",
                    [self](RequestContext& ctx) { return self->SignInPage(ctx); });
    router.AddOrDie(
        http::verb::post, "/sign-in", [self](RequestContext& ctx) { return self->SignIn(ctx); },
        form);
    router.AddOrDie(
        http::verb::post, "/sign-out", [self](RequestContext& ctx) { return self->SignOut(ctx); },
        form);
    // No icon (GOV.UK's crown is reserved for GOV.UK): an empty answer, so that browsers stop
    // asking and log no failed load.
    router.AddOrDie(http::verb::get, "/favicon.ico",
                    [](RequestContext&) -> asio::awaitable<Response> {
                      Response res{http::status::no_content, 11};
                      res.set(http::field::cache_control, kAssetCacheControl);
                      co_return res;
                    });
    router.AddOrDie(http::verb::get, "/signed-out",
                    [self](RequestContext& ctx) { return self->SignedOut(ctx); });
    router.AddOrDie(http::verb::get, "/account",
                    [self](RequestContext& ctx) { return self->Account(ctx); });
    router.AddOrDie(
        http::verb::post, "/account/profile",
        [self](RequestContext& ctx) { return self->UpdateProfile(ctx); }, form);
    router.AddOrDie(
        http::verb::post, "/account/password",
        [self](RequestContext& ctx) { return self->ChangePassword(ctx); }, form);
    router.AddOrDie(
        http::verb::post, "/account/sign-out-everywhere",
        [self](RequestContext& ctx) { return self->SignOutEverywhere(ctx); }, form);
    // The router matches one segment per parameter: GOV.UK Frontend's files are at most four
    // levels deep (assets/rebrand/images/x.svg).
    for (std::string_view pattern :
         {"/assets/{a}", "/assets/{a}/{b}", "/assets/{a}/{b}/{c}", "/assets/{a}/{b}/{c}/{d}"}) {
      router.AddOrDie(http::verb::get, pattern,
                      [self](RequestContext& ctx) { return self->Asset(ctx); });
    }
  }

 private:
  // --- sign in -----------------------------------------------------------------------------

  asio::awaitable<Response> SignInPage(RequestContext& ctx) {
    std::string next = ctx.QueryParam("next").value_or("");
    if (!IsLocalPath(next)) next.clear();
    if (auto session = CurrentSession(c_, ctx)) {
      co_return SeeOther(next.empty() ? "/account" : next);
    }
    json data = {{"page_title", "Sign in"}};
    if (!next.empty()) data["next"] = next;
    co_return SignInForm(ctx, http::status::ok, std::move(data));
  }

  // The sign-in form with `data` (username, next, authz, errors), and the CSRF cookie.
  Response SignInForm(RequestContext& ctx, http::status status, json data) {
    Response cookies{http::status::ok, 11};
    data["csrf_token"] = EnsureCsrfCookie(c_, ctx, cookies);
    if (HasErrors(data)) data["page_title"] = "Error: Sign in";
    Response page = HtmlPage(c_, status, "sign-in", std::move(data));
    CopySetCookies(cookies, page);
    return page;
  }

  // Looks up the member a sign-in names: a handle, "handle@<node domain>", or an email address.
  // nullopt when there is none (or the name cannot be one); an Error for a database failure.
  Result<std::optional<Member>> FindMember(std::string_view username) {
    if (username.empty() || username.size() > kMaxUsernameBytes) {
      return std::optional<Member>();
    }
    Result<Member> found = MakeError(ErrorCode::kNotFound, "");
    const std::string suffix = "@" + Lower(c_.config != nullptr ? c_.config->node.domain() : "");
    const std::string lower = Lower(username);
    if (lower.find('@') == std::string::npos) {
      found = c_.members->GetByHandle(username);
    } else {
      found = c_.members->GetByEmail(username);
      if (!found.ok() && found.error().code == ErrorCode::kNotFound && suffix.size() > 1 &&
          lower.size() > suffix.size() &&
          lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0) {
        found = c_.members->GetByHandle(username.substr(0, username.size() - suffix.size()));
      }
    }
    if (found.ok()) return std::optional<Member>(std::move(found).value());
    if (found.error().code == ErrorCode::kNotFound ||
        found.error().code == ErrorCode::kInvalidArgument) {
      return std::optional<Member>();
    }
    return found.error();
  }

  asio::awaitable<Response> SignIn(RequestContext& ctx) {
    auto form = RequestForm(ctx);
    if (!form.ok()) {
      co_return ErrorPage(c_, http::status::bad_request, "There is a problem with the request",
                          form.error().message);
    }
    SecretString password = TakeSecret(*form, "password");
    if (!CheckCsrfCookie(ctx, form->Get("csrf_token"))) {
      co_return ErrorPage(c_, http::status::forbidden, "This form has expired",
                          "The sign-in form was out of date or not sent from this site. Go back, "
                          "reload the page and sign in again.");
    }
    const std::string username(TrimSpace(form->Get("username")));
    std::string next = form->Get("next");
    if (!IsLocalPath(next)) next.clear();
    const std::string authz = form->Get("authz");

    json data = {{"page_title", "Sign in"}, {"username", username}};
    if (!next.empty()) data["next"] = next;
    if (!authz.empty()) {
      data["authz"] = authz;
      if (auto params = ParseForm(authz); params.ok() && c_.clients != nullptr) {
        if (auto client = c_.clients->Get(params->Get("client_id")); client.ok()) {
          data["client_name"] = client->name;
        }
      }
    }
    if (username.empty()) AddFieldError(data, "username", "Enter your username or email address");
    if (password.empty()) AddFieldError(data, "password", "Enter your password");
    if (HasErrors(data)) co_return SignInForm(ctx, http::status::bad_request, std::move(data));

    auto member = FindMember(username);
    if (!member.ok()) {
      spdlog::error("request {}: sign-in lookup failed: {}", ctx.request_id,
                    member.error().message);
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                          "Sign-in is not available right now. Try again in a few minutes.");
    }
    const std::string address = ClientAddress(ctx);
    const std::string account = *member ? (*member)->handle : Lower(username);

    if (auto wait = c_.throttle->RetryAfter(account, address)) {
      AddFieldError(data, "username",
                    "There have been too many failed attempts to sign in. Try again in " +
                        FormatWait(*wait) + ".");
      Response res = SignInForm(ctx, http::status::too_many_requests, std::move(data));
      res.set(http::field::retry_after, std::to_string(std::max<long>(1, wait->count())));
      co_return res;
    }

    std::string stored_hash;
    if (*member) {
      auto hash = c_.members->PasswordHash((*member)->id);
      if (hash.ok()) stored_hash = std::move(hash).value();
    }
    // An unknown member is checked against a dummy hash: the same work, the same answer.
    auto check = co_await AwaitDone<identity::PasswordCheck>(
        [&](std::function<void(Result<identity::PasswordCheck>)> done) {
          c_.hasher->Verify(stored_hash, SecretString(password.view()), std::move(done));
        });
    if (!check.ok() && check.error().code == ErrorCode::kUnavailable) {
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, the service is busy",
                          "Too many people are signing in right now. Try again in a minute.");
    }
    const bool active = *member && (*member)->status == identity::MemberStatus::kActive;
    if (!check.ok() || !check->matches || !active) {
      c_.throttle->RecordFailure(account, address);
      // The typed name is not logged: it is untrusted and may be someone's password.
      spdlog::info("request {}: sign-in refused for {} from {} ({})", ctx.request_id,
                   *member ? (*member)->handle : "an unknown member", address,
                   !*member      ? "no such member"
                   : !check.ok() ? check.error().message
                   : !active     ? "member disabled"
                                 : "wrong password");
      AddFieldError(data, "username", kWrongCredentials);
      co_return SignInForm(ctx, http::status::unauthorized, std::move(data));
    }
    c_.throttle->RecordSuccess(account, address);
    const Member& who = **member;
    if (check->needs_rehash) co_await UpgradeHash(who.id, stored_hash, password);

    auto previous = CurrentSession(c_, ctx);
    std::string user_agent;
    if (auto ua = ctx.request.find(http::field::user_agent); ua != ctx.request.end()) {
      user_agent = std::string(ua->value());
    }
    auto created = co_await AwaitDone<identity::NewSession>([&](identity::Done<identity::NewSession>
                                                                    done) {
      c_.sessions->Create(who.id, identity::SessionContext{address, user_agent}, std::move(done));
    });
    if (!created.ok()) {
      if (created.error().code == ErrorCode::kPermissionDenied ||
          created.error().code == ErrorCode::kNotFound) {
        AddFieldError(data, "username", kWrongCredentials);
        co_return SignInForm(ctx, http::status::unauthorized, std::move(data));
      }
      spdlog::error("request {}: cannot create a session: {}", ctx.request_id,
                    created.error().message);
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                          "You could not be signed in right now. Try again in a few minutes.");
    }
    if (previous && previous->id != created->session.id) co_await Revoke(previous->id);
    spdlog::info("request {}: {} signed in from {}", ctx.request_id, who.handle, address);
    const std::string cookie = CookieHeader(kSessionCookie, created->token, SecureCookies(c_));
    Response res;
    if (!authz.empty() && c_.continue_authorization) {
      res = co_await c_.continue_authorization(ctx, authz, created->session, true);
    } else {
      res = SeeOther(next.empty() ? "/account" : next);
    }
    res.insert(http::field::set_cookie, cookie);
    co_return res;
  }

  // Stores a hash of `password` made with the current parameters, unless the stored hash
  // changed meanwhile. Failures are logged: the sign-in itself has succeeded.
  asio::awaitable<void> UpgradeHash(int64_t member_id, const std::string& old_hash,
                                    const SecretString& password) {
    auto hash = co_await AwaitDone<std::string>([&](std::function<void(Result<std::string>)> done) {
      c_.hasher->Hash(SecretString(password.view()), std::move(done));
    });
    if (!hash.ok()) {
      spdlog::warn("member {}: password hash not upgraded: {}", member_id, hash.error().message);
      co_return;
    }
    auto replaced = co_await AwaitDone<bool>([&](identity::Done<bool> done) {
      c_.members->UpgradePasswordHash(member_id, old_hash, std::move(hash).value(),
                                      std::move(done));
    });
    if (!replaced.ok()) {
      spdlog::warn("member {}: password hash not upgraded: {}", member_id,
                   replaced.error().message);
    } else if (*replaced) {
      spdlog::info("member {}: password hash upgraded to the current parameters", member_id);
    }
  }

  asio::awaitable<void> Revoke(int64_t session_id) {
    auto done = co_await AwaitDone<void>(
        [&](identity::Done<void> d) { c_.sessions->Revoke(session_id, std::move(d)); });
    if (!done.ok()) spdlog::warn("session {}: not revoked: {}", session_id, done.error().message);
  }

  // --- sign out ----------------------------------------------------------------------------

  Response ClearSessionCookie(Response res) {
    res.insert(http::field::set_cookie, CookieHeader(kSessionCookie, "", SecureCookies(c_), 0));
    return res;
  }

  asio::awaitable<Response> SignOut(RequestContext& ctx) {
    auto session = CurrentSession(c_, ctx);
    if (!session) {
      // A remote member's session (node/sso_routes.h) ends here too, with its CSRF token.
      auto token = GetCookie(ctx.request, kSessionCookie);
      auto remote = token ? c_.sessions->AuthenticateAny(*token) : Result<Session>(Error{});
      auto form = RequestForm(ctx);
      if (remote.ok() && remote->remote() && form.ok() &&
          identity::SessionStore::CheckCsrf(*remote, form->Get("csrf_token"))) {
        auto ended = co_await AwaitDone<void>(
            [&](identity::Done<void> d) { c_.sessions->RevokeRemote(remote->id, std::move(d)); });
        if (!ended.ok()) spdlog::warn("request {}: {}", ctx.request_id, ended.error().message);
      }
    }
    // Without a live session there is nothing to protect: just drop the cookie.
    if (!session) co_return ClearSessionCookie(SeeOther("/signed-out"));
    auto form = RequestForm(ctx);
    if (!form.ok() || !identity::SessionStore::CheckCsrf(*session, form->Get("csrf_token"))) {
      co_return CsrfRefused(*session);
    }
    auto done = co_await AwaitDone<void>(
        [&](identity::Done<void> d) { c_.sessions->Revoke(session->id, std::move(d)); });
    if (!done.ok()) {
      spdlog::error("request {}: cannot end session: {}", ctx.request_id, done.error().message);
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                          "You could not be signed out right now. Try again in a few minutes.",
                          &*session);
    }
    co_return ClearSessionCookie(SeeOther("/signed-out"));
  }

  asio::awaitable<Response> SignedOut(RequestContext& ctx) {
    auto session = CurrentSession(c_, ctx);
    if (session) co_return SeeOther("/account");
    co_return HtmlPage(c_, http::status::ok, "signed-out", {{"page_title", "You have signed out"}});
  }

  Response CsrfRefused(const Session& session) {
    return ErrorPage(c_, http::status::forbidden, "This form has expired",
                     "The form was out of date or not sent from this site, so nothing was "
                     "changed. Go back, reload the page and try again.",
                     &session);
  }

  // --- account -----------------------------------------------------------------------------

  // The signed-in member of a request to /account..., with their session.
  struct SignedIn {
    Session session;
    Member member;
  };

  // The session and member, or the response to send instead (sign-in redirect, error).
  std::variant<SignedIn, Response> RequireMember(RequestContext& ctx) {
    auto session = CurrentSession(c_, ctx);
    if (!session) return SeeOther("/sign-in?next=/account");
    auto member = c_.members->GetById(session->member_id);
    if (!member.ok()) {
      if (member.error().code == ErrorCode::kNotFound) {
        return ClearSessionCookie(SeeOther("/sign-in?next=/account"));
      }
      return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                       "Your account cannot be shown right now. Try again in a few minutes.");
    }
    return SignedIn{std::move(session).value(), std::move(member).value()};
  }

  // The account page's data: the profile as stored (or as entered, when `entered` is set),
  // and the member's sessions.
  json AccountData(const SignedIn& who, const json* entered = nullptr) {
    const Member& m = who.member;
    json data = {
        {"page_title", "Your account"},
        {"handle", m.handle},
        {"handle_address", m.Address(c_.config != nullptr ? c_.config->node.domain() : "")},
        {"profile",
         {{"display_name", m.display_name},
          {"email", m.email},
          {"organisation", m.organisation},
          {"job_title", m.job_title},
          {"bio", m.bio}}},
        {"sessions", json::array()}};
    if (entered != nullptr) data["profile"] = *entered;
    auto sessions = c_.sessions->ListForMember(m.id);
    if (sessions.ok()) {
      for (const Session& s : *sessions) {
        data["sessions"].push_back({{"created", FormatTime(s.created_at)},
                                    {"last_seen", FormatTime(s.last_seen)},
                                    {"client_address", s.client_address},
                                    {"user_agent", s.user_agent},
                                    {"current", s.id == who.session.id}});
      }
    }
    // Other nodes and applications where this provider signed them in.
    data["elsewhere"] = json::array();
    auto elsewhere = c_.oidc != nullptr ? c_.oidc->RpSessions(m.id)
                                        : Result<std::vector<identity::RpSessionInfo>>(Error{});
    if (elsewhere.ok()) {
      for (const auto& r : *elsewhere) {
        data["elsewhere"].push_back({{"name", r.client_name.empty() ? r.client_id : r.client_name},
                                     {"client_id", r.client_id},
                                     {"since", FormatTime(r.created_at)}});
      }
    }
    data["has_elsewhere"] = !data["elsewhere"].empty();
    return data;
  }

  Response AccountPage(const SignedIn& who, http::status status, json data) {
    if (HasErrors(data)) data["page_title"] = "Error: Your account";
    return HtmlPage(c_, status, "account", std::move(data), &who.session);
  }

  asio::awaitable<Response> Account(RequestContext& ctx) {
    auto who = RequireMember(ctx);
    if (auto* res = std::get_if<Response>(&who)) co_return std::move(*res);
    const SignedIn& w = std::get<SignedIn>(who);
    json data = AccountData(w);
    const std::string saved = ctx.QueryParam("saved").value_or("");
    if (saved == "profile") data["notice"] = "Your profile has been saved.";
    if (saved == "password") {
      data["notice"] = "Your password has been changed. You have been signed out everywhere else.";
    }
    co_return AccountPage(w, http::status::ok, std::move(data));
  }

  // Parses the form of an /account POST and checks its CSRF token. nullopt response = go on.
  std::variant<identity::OidcParams, Response> AccountForm(RequestContext& ctx,
                                                           const SignedIn& who) {
    auto form = RequestForm(ctx);
    if (!form.ok()) return CsrfRefused(who.session);
    if (!identity::SessionStore::CheckCsrf(who.session, form->Get("csrf_token"))) {
      return CsrfRefused(who.session);
    }
    return std::move(form).value();
  }

  asio::awaitable<Response> UpdateProfile(RequestContext& ctx) {
    auto who_or = RequireMember(ctx);
    if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
    const SignedIn& who = std::get<SignedIn>(who_or);
    auto form_or = AccountForm(ctx, who);
    if (auto* res = std::get_if<Response>(&form_or)) co_return std::move(*res);
    const identity::OidcParams& form = std::get<identity::OidcParams>(form_or);

    identity::ProfileUpdate update;
    update.display_name = std::string(TrimSpace(form.Get("display_name")));
    update.email = std::string(TrimSpace(form.Get("email")));
    update.organisation = std::string(TrimSpace(form.Get("organisation")));
    update.job_title = std::string(TrimSpace(form.Get("job_title")));
    update.bio = form.Get("bio");
    const json entered = {{"display_name", *update.display_name},
                          {"email", *update.email},
                          {"organisation", *update.organisation},
                          {"job_title", *update.job_title},
                          {"bio", *update.bio}};
    json data = AccountData(who, &entered);

    // Each field is checked on its own so that every problem is shown at once.
    if (update.display_name->empty()) {
      AddFieldError(data, "display_name", "Enter your full name");
    } else if (auto s = identity::ValidateText("display_name", *update.display_name,
                                               identity::kMaxDisplayName, true);
               !s.ok()) {
      AddFieldError(data, "display_name", FieldMessage("Full name", s.error()));
    }
    if (update.email->empty()) {
      AddFieldError(data, "email", "Enter your email address");
    } else if (auto e = identity::NormalizeEmail(*update.email); !e.ok()) {
      AddFieldError(data, "email",
                    "Enter an email address in the correct format, like name@example.org");
    }
    if (auto s = identity::ValidateText("organisation", *update.organisation,
                                        identity::kMaxOrganisation, false);
        !s.ok()) {
      AddFieldError(data, "organisation", FieldMessage("Organisation", s.error()));
    }
    if (auto s =
            identity::ValidateText("job_title", *update.job_title, identity::kMaxJobTitle, false);
        !s.ok()) {
      AddFieldError(data, "job_title", FieldMessage("Job title", s.error()));
    }
    if (auto s = identity::ValidateText("bio", *update.bio, identity::kMaxBio, false, true);
        !s.ok()) {
      AddFieldError(data, "bio", FieldMessage("About you", s.error()));
    }
    if (HasErrors(data)) co_return AccountPage(who, http::status::bad_request, std::move(data));

    auto updated = co_await AwaitDone<Member>([&](identity::Done<Member> done) {
      c_.members->UpdateProfile(who.member.id, std::move(update), std::move(done));
    });
    if (!updated.ok()) {
      const Error& e = updated.error();
      if (e.code == ErrorCode::kConflict) {
        AddFieldError(data, "email", "This email address is already used by another member");
      } else if (e.code == ErrorCode::kInvalidArgument) {
        const std::string field = e.message.substr(0, e.message.find(':'));
        if (data["profile"].contains(field)) {
          AddFieldError(data, field, Sentence(e.message.substr(e.message.find(':') + 2)));
        } else {
          AddFieldError(data, "display_name", Sentence(e.message));
        }
      } else {
        spdlog::error("request {}: profile not saved: {}", ctx.request_id, e.message);
        co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                            "Your profile could not be saved. Try again in a few minutes.",
                            &who.session);
      }
      co_return AccountPage(who, http::status::bad_request, std::move(data));
    }
    co_return SeeOther("/account?saved=profile");
  }

  asio::awaitable<Response> ChangePassword(RequestContext& ctx) {
    auto who_or = RequireMember(ctx);
    if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
    const SignedIn& who = std::get<SignedIn>(who_or);
    auto form_or = AccountForm(ctx, who);
    if (auto* res = std::get_if<Response>(&form_or)) co_return std::move(*res);
    identity::OidcParams& form = std::get<identity::OidcParams>(form_or);
    SecretString current = TakeSecret(form, "current_password");
    SecretString fresh = TakeSecret(form, "new_password");
    SecretString confirm = TakeSecret(form, "confirm_password");
    const Member& m = who.member;
    const std::string address = ClientAddress(ctx);

    json data = AccountData(who);
    if (auto wait = c_.throttle->RetryAfter(m.handle, address)) {
      AddFieldError(
          data, "current_password",
          "There have been too many failed attempts. Try again in " + FormatWait(*wait) + ".");
      Response res = AccountPage(who, http::status::too_many_requests, std::move(data));
      res.set(http::field::retry_after, std::to_string(std::max<long>(1, wait->count())));
      co_return res;
    }
    if (current.empty()) AddFieldError(data, "current_password", "Enter your current password");
    if (fresh.empty()) {
      AddFieldError(data, "new_password", "Enter a new password");
    } else if (auto rules = identity::CheckPasswordRules(fresh.view(), m.handle, m.email);
               !rules.ok()) {
      AddFieldError(data, "new_password", Sentence(rules.error().message));
    }
    if (!fresh.empty() && confirm.view() != fresh.view()) {
      AddFieldError(data, "confirm_password", "The new passwords do not match");
    }
    if (HasErrors(data)) co_return AccountPage(who, http::status::bad_request, std::move(data));

    auto stored = c_.members->PasswordHash(m.id);
    if (!stored.ok()) {
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                          "Your password could not be changed. Try again in a few minutes.",
                          &who.session);
    }
    auto check = co_await AwaitDone<identity::PasswordCheck>(
        [&](std::function<void(Result<identity::PasswordCheck>)> done) {
          c_.hasher->Verify(*stored, SecretString(current.view()), std::move(done));
        });
    if (!check.ok() && check.error().code == ErrorCode::kUnavailable) {
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, the service is busy",
                          "Try again in a minute.", &who.session);
    }
    if (!check.ok() || !check->matches) {
      c_.throttle->RecordFailure(m.handle, address);
      AddFieldError(data, "current_password", "Your current password is not right");
      co_return AccountPage(who, http::status::bad_request, std::move(data));
    }
    c_.throttle->RecordSuccess(m.handle, address);
    auto hash = co_await AwaitDone<std::string>([&](std::function<void(Result<std::string>)> done) {
      c_.hasher->Hash(SecretString(fresh.view()), std::move(done));
    });
    Status saved = hash.ok() ? Status() : Status(hash.error());
    if (saved.ok()) {
      saved = co_await AwaitDone<void>([&](identity::Done<void> done) {
        c_.members->SetPasswordHash(m.id, std::move(hash).value(), std::move(done));
      });
    }
    if (!saved.ok()) {
      spdlog::error("request {}: password not changed: {}", ctx.request_id, saved.error().message);
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                          "Your password could not be changed. Try again in a few minutes.",
                          &who.session);
    }
    auto others = co_await AwaitDone<int64_t>([&](identity::Done<int64_t> done) {
      c_.sessions->RevokeOthers(m.id, who.session.id, std::move(done));
    });
    if (!others.ok()) {
      spdlog::error("member {}: other sessions not ended after a password change: {}", m.handle,
                    others.error().message);
    }
    spdlog::info("request {}: {} changed their password ({} other sessions ended)", ctx.request_id,
                 m.handle, others.ok() ? *others : 0);
    co_return SeeOther("/account?saved=password");
  }

  asio::awaitable<Response> SignOutEverywhere(RequestContext& ctx) {
    auto who_or = RequireMember(ctx);
    if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
    const SignedIn& who = std::get<SignedIn>(who_or);
    auto form_or = AccountForm(ctx, who);
    if (auto* res = std::get_if<Response>(&form_or)) co_return std::move(*res);
    auto ended = co_await AwaitDone<int64_t>([&](identity::Done<int64_t> done) {
      c_.sessions->RevokeAll(who.member.id, std::move(done));
    });
    if (!ended.ok()) {
      spdlog::error("request {}: sign out everywhere failed: {}", ctx.request_id,
                    ended.error().message);
      co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                          "You could not be signed out everywhere. Try again in a few minutes.",
                          &who.session);
    }
    // And the sessions this node's provider started at other nodes and applications for them
    // (Back-Channel Logout 1.0): told in the background, so this page answers at once.
    if (c_.oidc == nullptr) co_return ClearSessionCookie(SeeOther("/signed-out"));
    auto targets = co_await AwaitDone<std::vector<identity::RpLogoutTarget>>(
        [&](identity::Done<std::vector<identity::RpLogoutTarget>> done) {
          c_.oidc->EndRpSessions(who.member.id, std::move(done));
        });
    size_t told = 0;
    if (!targets.ok()) {
      spdlog::error("request {}: sessions at other nodes not ended: {}", ctx.request_id,
                    targets.error().message);
    } else {
      std::vector<identity::BackchannelLogout> logouts;
      for (const auto& t : *targets) {
        auto signed_logout = c_.oidc->SignLogout(t, who.member.sub);
        if (!signed_logout.ok()) {
          spdlog::error("request {}: no logout token for {}: {}", ctx.request_id, t.client_id,
                        signed_logout.error().message);
          continue;
        }
        logouts.push_back(std::move(signed_logout).value());
      }
      told = logouts.size();
      c_.oidc->SendLogouts(std::move(logouts));
    }
    spdlog::info("request {}: {} signed out everywhere ({} sessions here, {} other nodes told)",
                 ctx.request_id, who.member.handle, *ended, told);
    co_return ClearSessionCookie(SeeOther("/signed-out"));
  }

  // --- assets ------------------------------------------------------------------------------

  // The file a request names, when every segment is an ordinary, visible name and the type is
  // one that is served.
  std::optional<std::filesystem::path> AssetPath(const RequestContext& ctx,
                                                 std::string_view* content_type) const {
    if (assets_dir_.empty()) return std::nullopt;
    std::filesystem::path path = assets_dir_;
    std::string_view last;
    for (const PathParam& p : ctx.params) {
      const std::string& s = p.value;
      if (s.empty() || s.front() == '.' || s.size() > 255) return std::nullopt;
      for (unsigned char ch : s) {
        if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\' || ch == ':') return std::nullopt;
      }
      path /= s;
      last = s;
    }
    size_t dot = last.rfind('.');
    if (dot == std::string_view::npos) return std::nullopt;
    const std::string extension = Lower(last.substr(dot));
    for (const AssetType& type : kAssetTypes) {
      if (type.extension == extension) {
        *content_type = type.content_type;
        return path;
      }
    }
    return std::nullopt;
  }

  // Runs on the blocking pool: resolves symbolic links and refuses whatever ends up outside
  // the assets folder.
  static Result<AssetFile> ReadAsset(const std::filesystem::path& root,
                                     const std::filesystem::path& path,
                                     std::string_view content_type) {
    const Error missing = MakeError(ErrorCode::kNotFound, "no such asset");
    std::error_code ec;
    const std::filesystem::path real = std::filesystem::canonical(path, ec);
    if (ec) return missing;
    auto rel = real.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") return missing;
    if (!std::filesystem::is_regular_file(real, ec) || ec) return missing;
    const auto size = std::filesystem::file_size(real, ec);
    if (ec || size > kMaxAssetBytes) return missing;
    std::ifstream in(real, std::ios::binary);
    if (!in) return missing;
    AssetFile file;
    file.body.resize(size);
    in.read(file.body.data(), static_cast<std::streamsize>(size));
    if (in.gcount() != static_cast<std::streamsize>(size)) {
      return MakeError(ErrorCode::kInternal, "short read of " + real.string());
    }
    file.content_type = content_type;
    if (real.extension() == ".css") file.body = WithoutFontFaces(std::move(file.body));
    return file;
  }

  // GOV.UK Frontend's stylesheet declares the GDS Transport font, which is reserved for GOV.UK
  // (DESIGN.md). Without its @font-face rules browsers never ask for the font files and fall
  // back to the next family in the stack, Arial.
  static std::string WithoutFontFaces(std::string css) {
    static constexpr std::string_view kRule = "@font-face";
    size_t pos = 0;
    while ((pos = css.find(kRule, pos)) != std::string::npos) {
      size_t open = css.find('{', pos);
      size_t close = open == std::string::npos ? open : css.find('}', open);
      if (close == std::string::npos) break;  // malformed: leave the rest as it is
      css.erase(pos, close + 1 - pos);
    }
    return css;
  }

  asio::awaitable<Response> Asset(RequestContext& ctx) {
    std::string_view content_type;
    auto path = AssetPath(ctx, &content_type);
    if (!path) co_return NotFound();
    auto file = co_await AwaitDone<AssetFile>([&](std::function<void(Result<AssetFile>)> done) {
      asio::post(*c_.blocking_pool,
                 [root = assets_dir_, path = *path, content_type, done = std::move(done)] {
                   done(ReadAsset(root, path, content_type));
                 });
    });
    if (!file.ok()) {
      if (file.error().code != ErrorCode::kNotFound) {
        spdlog::error("request {}: asset: {}", ctx.request_id, file.error().message);
      }
      co_return NotFound();
    }
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, file->content_type);
    res.set(http::field::cache_control, kAssetCacheControl);
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = std::move(file->body);
    res.prepare_payload();
    co_return res;
  }

  static Response NotFound() {
    Response res = TextResponse(http::status::not_found, "not found\n");
    res.set("X-Content-Type-Options", "nosniff");
    return res;
  }

  const WebContext c_;  // a copy: the caller's may go away; what it points to outlives us
  std::filesystem::path assets_dir_;  // canonical; empty when there are no assets
};

}  // namespace

void AddWebRoutes(Router& router, const WebContext& context) {
  WebPages::Register(router, std::make_shared<WebPages>(context));
}

}  // namespace kith::node
