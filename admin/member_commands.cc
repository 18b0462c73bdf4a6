#include "admin/member_commands.h"

#include <sodium.h>

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "admin/admin_client.h"
#include "admin/command_output.h"

namespace kith::admin {

using nlohmann::json;

struct MemberCommands {
  std::string data_dir;
  bool json_output = false;
  bool yes = false;
  bool password_stdin = false;
  bool grant = false;
  bool revoke = false;
  std::string handle;
  std::string email;
  std::string name;
  std::string organisation;
  std::string job_title;
  std::string bio;
  std::string visibility;
  std::string search;
  std::string file;
  int64_t limit = 0;  // 0: every member
  int64_t after = 0;
  CLI::App* member = nullptr;
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* disable = nullptr;
  CLI::App* enable = nullptr;
  CLI::App* reset = nullptr;
  CLI::App* remove = nullptr;
  CLI::App* import = nullptr;
  CLI::App* admin = nullptr;
};

namespace {

// Importing hashes every password in the file with Argon2id: give it time.
constexpr auto kImportTimeout = std::chrono::minutes(30);
constexpr auto kHashTimeout = std::chrono::minutes(2);
// Pages fetched by `member list` at a time.
constexpr int64_t kPage = 1000;

// Reads the password for --password-stdin: one line, without its line end.
Result<std::string> ReadPasswordLine() {
  std::string line;
  if (!std::getline(std::cin, line)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--password-stdin: no line on standard input to read the password from");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "--password-stdin: the password line is empty");
  }
  return line;
}

void Wipe(std::string& secret) { sodium_memzero(secret.data(), secret.size()); }

std::string MemberPath(const std::string& handle, std::string_view suffix = {}) {
  return "/v1/members/" + EncodePathSegment(handle) + std::string(suffix);
}

void PrintMember(const json& m) {
  const std::pair<const char*, std::string> lines[] = {
      {"Handle:", JsonText(m, "handle")},
      {"Address:", JsonText(m, "address")},
      {"Name:", JsonText(m, "display_name")},
      {"Email:", JsonText(m, "email")},
      {"Organisation:", JsonText(m, "organisation")},
      {"Job title:", JsonText(m, "job_title")},
      {"Status:", JsonText(m, "status")},
      {"Directory:", JsonText(m, "visibility")},
      {"Password set:", m.value("has_password", false) ? "yes" : "no"},
      {"Node admin:", m.value("node_admin", false) ? "yes" : "no"},
      {"Subject:", JsonText(m, "sub")},
      {"Created:", FormatUnixTime(m.value("created_at", json()))},
      {"Updated:", FormatUnixTime(m.value("updated_at", json()))},
  };
  for (const auto& [label, value] : lines) {
    std::cout << std::left << std::setw(15) << label << value << "\n";
  }
  if (!JsonText(m, "bio").empty()) std::cout << "Bio:\n  " << JsonText(m, "bio") << "\n";
}

// Prints a generated password, making clear it will not be shown again.
void PrintPassword(const json& reply) {
  if (!reply.contains("password")) return;
  std::cout << "Password (shown only now; give it to the member over a safe channel):\n  "
            << JsonText(reply, "password") << "\n";
}

int RunAdd(const MemberCommands& c, const AdminClient& client) {
  json body{{"handle", c.handle}, {"email", c.email}, {"display_name", c.name}};
  if (!c.organisation.empty()) body["organisation"] = c.organisation;
  if (!c.job_title.empty()) body["job_title"] = c.job_title;
  if (!c.bio.empty()) body["bio"] = c.bio;
  if (!c.visibility.empty()) body["visibility"] = c.visibility;
  if (c.password_stdin) {
    auto password = ReadPasswordLine();
    if (!password.ok()) return CommandFail(password.error(), c.json_output);
    body["password"] = std::move(password).value();
  }
  std::string text = body.dump();
  if (c.password_stdin) Wipe(body["password"].get_ref<std::string&>());
  auto reply = client.CallOk("POST", "/v1/members", text, kHashTimeout);
  Wipe(text);
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  const json& m = (*reply)["member"];
  std::cout << "Added member " << JsonText(m, "address") << " (" << JsonText(m, "display_name")
            << ", " << JsonText(m, "email") << ")\n";
  PrintPassword(*reply);
  return kExitOk;
}

int RunList(const MemberCommands& c, const AdminClient& client) {
  json members = json::array();
  int64_t after = c.after;
  int64_t next_after = 0;
  for (;;) {
    int64_t want = kPage;
    if (c.limit > 0)
      want = std::min<int64_t>(kPage, c.limit - static_cast<int64_t>(members.size()));
    std::string target =
        "/v1/members?after=" + std::to_string(after) + "&limit=" + std::to_string(want);
    if (!c.search.empty()) {
      target += "&q=" + boost::urls::encode(c.search, boost::urls::unreserved_chars);
    }
    auto reply = client.CallOk("GET", target);
    if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
    for (auto& m : (*reply)["members"]) members.push_back(std::move(m));
    next_after = reply->value("next_after", int64_t{0});
    if (next_after == 0) break;
    if (next_after <= after) {
      // A page that does not move forward would loop for ever.
      return CommandFail(MakeError(ErrorCode::kInternal,
                                   "kithd did not page forward (after=" + std::to_string(after) +
                                       " answered next_after=" + std::to_string(next_after) + ")"),
                         c.json_output);
    }
    if (c.limit > 0 && static_cast<int64_t>(members.size()) >= c.limit) break;
    after = next_after;
  }
  if (c.json_output) {
    std::cout << json{{"members", members}, {"next_after", next_after}}.dump() << "\n";
    return kExitOk;
  }
  if (members.empty()) {
    std::cout << "No members.\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  rows.reserve(members.size());
  for (const auto& m : members) {
    rows.push_back({JsonText(m, "handle"), JsonText(m, "status"), JsonText(m, "email"),
                    JsonText(m, "display_name"), JsonText(m, "organisation"),
                    m.value("node_admin", false) ? "yes" : "-"});
  }
  PrintTable({"HANDLE", "STATUS", "EMAIL", "NAME", "ORGANISATION", "ADMIN"}, rows);
  if (next_after != 0) {
    std::cout << "(more: kithctl member list --after " << next_after << ")\n";
  }
  return kExitOk;
}

int RunShow(const MemberCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", MemberPath(c.handle));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
  } else {
    PrintMember((*reply)["member"]);
  }
  return kExitOk;
}

int RunAdmin(const MemberCommands& c, const AdminClient& client) {
  if (c.grant == c.revoke) {
    return CommandFail(MakeError(ErrorCode::kInvalidArgument,
                                 "member admin: give exactly one of --grant and --revoke"),
                       c.json_output);
  }
  auto reply =
      client.CallOk("POST", MemberPath(c.handle, c.grant ? "/grant-admin" : "/revoke-admin"));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  const json& m = (*reply)["member"];
  if (c.grant) {
    std::cout << JsonText(m, "address")
              << " is now a node administrator (the operator pages, e.g. /admin/network).\n";
  } else {
    std::cout << JsonText(m, "address") << " is no longer a node administrator.\n";
  }
  return kExitOk;
}

int RunStatus(const MemberCommands& c, const AdminClient& client, bool disable) {
  auto reply = client.CallOk("POST", MemberPath(c.handle, disable ? "/disable" : "/enable"));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  const json& m = (*reply)["member"];
  if (disable) {
    std::cout << "Disabled " << JsonText(m, "address")
              << ": they are signed out everywhere and cannot sign in.\n";
  } else {
    std::cout << "Enabled " << JsonText(m, "address") << ".\n";
  }
  return kExitOk;
}

int RunReset(const MemberCommands& c, const AdminClient& client) {
  std::string text;
  if (c.password_stdin) {
    auto password = ReadPasswordLine();
    if (!password.ok()) return CommandFail(password.error(), c.json_output);
    json body{{"password", std::move(password).value()}};
    text = body.dump();
    Wipe(body["password"].get_ref<std::string&>());
  }
  auto reply = client.CallOk("POST", MemberPath(c.handle, "/reset-password"), text, kHashTimeout);
  Wipe(text);
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  std::cout << "Password of " << JsonText((*reply)["member"], "address") << " reset; "
            << reply->value("sessions_ended", int64_t{0}) << " session(s) ended.\n";
  PrintPassword(*reply);
  return kExitOk;
}

int RunRemove(const MemberCommands& c, const AdminClient& client) {
  if (!c.yes) {
    auto member = client.CallOk("GET", MemberPath(c.handle));
    if (!member.ok()) return CommandFail(member.error(), c.json_output);
    const json& m = (*member)["member"];
    // With --json, stdout carries only the JSON answer.
    std::ostream& out = c.json_output ? std::cerr : std::cout;
    out << "Remove " << JsonText(m, "address") << " (" << JsonText(m, "display_name") << ", "
        << JsonText(m, "email") << ")? Their sessions end and the account cannot be restored. "
        << "[y/N] " << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer) || (answer != "y" && answer != "Y" && answer != "yes")) {
      std::cerr << "kithctl: not removed\n";
      return kExitDeclined;
    }
  }
  auto reply = client.CallOk("DELETE", MemberPath(c.handle));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
  } else {
    std::cout << "Removed member " << JsonText(*reply, "removed") << ".\n";
  }
  return kExitOk;
}

int RunImport(const MemberCommands& c, const AdminClient& client) {
  std::ifstream in(c.file, std::ios::binary);
  if (!in) {
    return CommandFail(MakeError(ErrorCode::kNotFound, "cannot open " + c.file), c.json_output);
  }
  // Read straight into the string that goes into the request, so that it can be wiped.
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) text.append(buf, in.gcount());
  sodium_memzero(buf, sizeof buf);
  if (in.bad()) {
    Wipe(text);
    return CommandFail(MakeError(ErrorCode::kInternal, "cannot read " + c.file), c.json_output);
  }
  json body{{"csv", std::move(text)}};
  std::string request;
  try {
    request = body.dump(-1, ' ', false, json::error_handler_t::strict);
  } catch (const json::exception&) {
    Wipe(body["csv"].get_ref<std::string&>());
    return CommandFail(MakeError(ErrorCode::kInvalidArgument, c.file + " is not valid UTF-8 text"),
                       c.json_output);
  }
  auto reply = client.CallOk("POST", "/v1/members/import", request, kImportTimeout);
  // The file may hold passwords.
  Wipe(request);
  Wipe(body["csv"].get_ref<std::string&>());
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  const json& rejected = (*reply)["rejected"];
  const int code = rejected.empty() && reply->value("committed", false) ? kExitOk : kExitFailed;
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return code;
  }
  std::ostream& out = code == kExitOk ? std::cout : std::cerr;
  for (const auto& row : rejected) {
    out << c.file << ":" << row.value("line", int64_t{0});
    if (!JsonText(row, "handle").empty()) out << " (" << JsonText(row, "handle") << ")";
    out << ": " << JsonText(row, "reason") << "\n";
  }
  out << JsonText(*reply, "summary") << "\n";
  return code;
}

}  // namespace

std::shared_ptr<MemberCommands> AddMemberCommands(CLI::App& app, std::string default_data_dir) {
  auto c = std::make_shared<MemberCommands>();
  c->data_dir = std::move(default_data_dir);
  c->member = app.add_subcommand("member", "Manage the node's members");
  c->member->require_subcommand(1);

  c->add = c->member->add_subcommand("add", "Add a member (prints a generated password once)");
  c->add->add_option("handle", c->handle, "The member's handle (letters, digits, . - _)")
      ->required();
  c->add->add_option("--email", c->email, "Email address")->required();
  c->add->add_option("--name", c->name, "Display name")->required();
  c->add->add_option("--organisation", c->organisation, "Organisation");
  c->add->add_option("--job-title", c->job_title, "Job title");
  c->add->add_option("--bio", c->bio, "A short bio or expertise");
  c->add->add_option("--visibility", c->visibility, "Directory visibility (default node)")
      ->check(CLI::IsMember({"network", "node", "hidden"}));
  c->add->add_flag("--password-stdin", c->password_stdin,
                   "Read the password from one line of standard input instead of generating one");

  c->list = c->member->add_subcommand("list", "List members as a table");
  c->list->add_option("--limit", c->limit, "At most N members (default: all)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  c->list->add_option("--after", c->after, "Start after the member with this id")
      ->check(CLI::NonNegativeNumber);
  c->list->add_option("--search", c->search,
                      "Only members whose handle, email, name or organisation contains TEXT");

  c->show = c->member->add_subcommand("show", "Show one member");
  c->disable = c->member->add_subcommand("disable", "Disable a member and end their sessions");
  c->enable = c->member->add_subcommand("enable", "Enable a disabled member");
  c->reset = c->member->add_subcommand(
      "reset-password", "Set a new password (generated unless given) and end every session");
  c->reset->add_flag("--password-stdin", c->password_stdin,
                     "Read the password from one line of standard input instead of generating one");
  c->remove = c->member->add_subcommand("remove", "Remove a member for good");
  c->remove->add_flag("--yes,-y", c->yes, "Do not ask for confirmation");
  c->admin = c->member->add_subcommand(
      "admin", "Grant or revoke node administration (the operator pages on the web)");
  c->admin->add_flag("--grant", c->grant, "Make the member a node administrator");
  c->admin->add_flag("--revoke", c->revoke, "Take node administration away");
  for (CLI::App* sub : {c->show, c->disable, c->enable, c->reset, c->remove, c->admin}) {
    sub->add_option("handle", c->handle, "The member's handle")->required();
  }

  c->import = c->member->add_subcommand(
      "import", "Import members from a CSV file: all rows or none (see docs/operators.md)");
  c->import
      ->add_option("file", c->file,
                   "CSV with handle,display_name,email,organisation,"
                   "job_title[,password] columns")
      ->required();

  for (CLI::App* sub : {c->add, c->list, c->show, c->disable, c->enable, c->reset, c->remove,
                        c->import, c->admin}) {
    sub->add_option("--data-dir", c->data_dir,
                    "The node's data directory (default $KITH_DATA_DIR, else /var/lib/kith)");
    sub->add_flag("--json", c->json_output, "Print the result as JSON");
  }
  return c;
}

std::optional<int> RunMemberCommands(const MemberCommands& c) {
  if (!c.member->parsed()) return std::nullopt;
  AdminClient client(AdminClient::SocketFor(c.data_dir));
  if (c.add->parsed()) return RunAdd(c, client);
  if (c.list->parsed()) return RunList(c, client);
  if (c.show->parsed()) return RunShow(c, client);
  if (c.disable->parsed()) return RunStatus(c, client, true);
  if (c.enable->parsed()) return RunStatus(c, client, false);
  if (c.reset->parsed()) return RunReset(c, client);
  if (c.remove->parsed()) return RunRemove(c, client);
  if (c.import->parsed()) return RunImport(c, client);
  if (c.admin->parsed()) return RunAdmin(c, client);
  return kExitUsage;
}

}  // namespace kith::admin
