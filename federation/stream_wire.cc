#include "federation/stream_wire.h"

#include <sodium.h>

#include <boost/url/parse.hpp>
#include <cstdlib>
#include <utility>

#include "groups/directory.h"

namespace kith::federation {

using nlohmann::json;

namespace {

Error Invalid(std::string message, std::string_view reason = {}) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), std::string(reason));
}

Result<json> ParseObject(std::string_view body, size_t max_bytes, std::string_view what) {
  if (body.size() > max_bytes) {
    return MakeError(ErrorCode::kTooLarge,
                     std::string(what) + " exceeds " + std::to_string(max_bytes) + " bytes");
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Invalid(std::string(what) + " must be a JSON object");
  }
  return parsed;
}

// Parses `array` as events of `stream`, each checked, consecutive from its first seq.
Result<std::vector<groups::Event>> ParseEvents(std::string_view stream, const json& array,
                                               size_t max_events) {
  if (!array.is_array()) return Invalid("\"events\" must be an array", stream_reason::kBadBatch);
  if (array.size() > max_events) {
    return MakeError(ErrorCode::kTooLarge,
                     "more than " + std::to_string(max_events) + " events in one message",
                     std::string(stream_reason::kBadBatch));
  }
  auto name = ParseStreamName(stream);
  if (!name.ok()) return Invalid(name.error().message, stream_reason::kBadBatch);
  const bool directory = name->kind == StreamKind::kDirectory;
  std::vector<groups::Event> events;
  events.reserve(array.size());
  for (const json& item : array) {
    auto event = directory ? groups::DirectoryEventFromJson(stream, item)
                           : groups::EventFromJson(stream, item);
    if (!event.ok()) {
      return Invalid("event " + std::to_string(events.size()) + ": " + event.error().message,
                     stream_reason::kBadBatch);
    }
    // DirectoryEventFromJson checked the data already.
    Status data = directory ? OkStatus() : groups::ValidateEventData(event->type, event->data);
    if (!data.ok()) {
      return Invalid("event seq " + std::to_string(event->seq) + ": " + data.error().message,
                     stream_reason::kBadBatch);
    }
    if (!events.empty() && event->seq != events.back().seq + 1) {
      return Invalid("events must have consecutive ascending seqs: " + std::to_string(event->seq) +
                         " follows " + std::to_string(events.back().seq),
                     stream_reason::kBadBatch);
    }
    events.push_back(std::move(event).value());
  }
  return events;
}

Status CheckStreamMember(const json& body, std::string_view stream) {
  auto it = body.find("stream");
  if (it == body.end()) return OkStatus();
  if (!it->is_string() || it->get<std::string>() != stream) {
    return Invalid("\"stream\" does not match the request path", stream_reason::kBadBatch);
  }
  return OkStatus();
}

ErrorCode CodeForStatus(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 405:
      return ErrorCode::kMethodNotAllowed;
    case 409:
      return ErrorCode::kConflict;
    case 413:
      return ErrorCode::kTooLarge;
    case 415:
      return ErrorCode::kUnsupportedMediaType;
    case 429:
      return ErrorCode::kTooManyRequests;
    case 503:
      return ErrorCode::kUnavailable;
    default:
      return status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument;
  }
}

}  // namespace

Result<std::string> DomainOfNode(std::string_view base_url) {
  auto parsed = boost::urls::parse_uri(base_url);
  if (!parsed || parsed->encoded_host().empty()) {
    return Invalid("not a node URL: " + std::string(base_url.substr(0, 200)));
  }
  return std::string(parsed->encoded_host_and_port());
}

Result<StreamName> ParseStreamName(std::string_view stream) {
  if (stream.starts_with("directory@")) {
    auto domain = groups::ParseDirectoryStream(stream);
    if (!domain.ok()) return std::move(domain).error();
    return StreamName{StreamKind::kDirectory, std::move(domain).value()};
  }
  auto ref = groups::ParseGroupStream(stream);
  if (!ref.ok()) return std::move(ref).error();
  return StreamName{StreamKind::kGroup, std::move(ref->domain)};
}

bool IsValidCommandId(std::string_view id) {
  if (id.empty() || id.size() > 100) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string NewCommandId() {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work at all
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof(bytes));
  char out[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof(out), bytes, sizeof(bytes),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

Result<EventBatch> ParseEventBatch(std::string_view stream, std::string_view body, size_t max_bytes,
                                   size_t max_events) {
  auto parsed = ParseObject(body, max_bytes, "an events batch");
  if (!parsed.ok()) return std::move(parsed).error();
  KITH_RETURN_IF_ERROR(CheckStreamMember(*parsed, stream));
  auto it = parsed->find("events");
  if (it == parsed->end()) return Invalid("a batch needs \"events\"", stream_reason::kBadBatch);
  auto events = ParseEvents(stream, *it, max_events);
  if (!events.ok()) return std::move(events).error();
  if (events->empty()) return Invalid("a batch needs at least one event", stream_reason::kBadBatch);
  return EventBatch{std::string(stream), std::move(events).value()};
}

std::string EventBatchJson(std::string_view stream, const std::vector<groups::Event>& events) {
  json array = json::array();
  for (const groups::Event& event : events) array.push_back(event.ToJson());
  return json{{"stream", stream}, {"events", std::move(array)}}.dump();
}

std::string EventsPageJson(std::string_view stream, const std::vector<groups::Event>& events,
                           int64_t head) {
  json array = json::array();
  for (const groups::Event& event : events) array.push_back(event.ToJson());
  return json{{"stream", stream}, {"events", std::move(array)}, {"head", head}}.dump();
}

Result<EventsPage> ParseEventsPage(std::string_view stream, std::string_view body, int64_t after,
                                   size_t max_bytes) {
  auto parsed = ParseObject(body, max_bytes, "an events page");
  if (!parsed.ok()) return std::move(parsed).error();
  KITH_RETURN_IF_ERROR(CheckStreamMember(*parsed, stream));
  auto head = parsed->find("head");
  if (head == parsed->end() || !head->is_number_integer() || head->get<int64_t>() < 0) {
    return Invalid("an events page needs \"head\"", stream_reason::kBadBatch);
  }
  auto it = parsed->find("events");
  if (it == parsed->end()) return Invalid("an events page needs \"events\"");
  auto events = ParseEvents(stream, *it, kMaxPullLimit);
  if (!events.ok()) return std::move(events).error();
  if (!events->empty() && events->front().seq != after + 1) {
    return Invalid("an events page after " + std::to_string(after) + " starts at seq " +
                       std::to_string(events->front().seq),
                   stream_reason::kBadBatch);
  }
  return EventsPage{std::move(events).value(), head->get<int64_t>()};
}

namespace {

Result<groups::Command> CommandFromJson(std::string_view stream, const json& b) {
  auto text = [&](const char* key) -> const std::string* {
    auto it = b.find(key);
    return it != b.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  const std::string* command_id = text("command_id");
  const std::string* type = text("type");
  const std::string* actor = text("actor");
  auto data = b.find("data");
  if (!command_id || !IsValidCommandId(*command_id)) {
    return Invalid("\"command_id\" must be 1-100 characters of [A-Za-z0-9_-]");
  }
  if (!type || !groups::IsKnownEventType(*type)) {
    return Invalid("unknown command type" + (type ? " \"" + type->substr(0, 64) + "\"" : ""));
  }
  if (!actor || !groups::AddressDomain(*actor).ok()) {
    return Invalid("\"actor\" must be a member address handle@domain");
  }
  if (data == b.end() || !data->is_object()) return Invalid("\"data\" must be an object");
  KITH_RETURN_IF_ERROR(groups::ValidateEventData(*type, *data));
  groups::Command command;
  command.stream = std::string(stream);
  command.type = *type;
  command.actor = *actor;
  command.data = *data;
  command.command_id = *command_id;
  return command;
}

}  // namespace

Result<groups::Command> ParseCommand(std::string_view stream, std::string_view body) {
  auto parsed = ParseObject(body, kMaxCommandBody, "a command");
  if (!parsed.ok()) return std::move(parsed).error();
  return CommandFromJson(stream, *parsed);
}

Result<std::vector<BatchItem>> ParseCommandBatch(std::string_view body) {
  auto parsed = ParseObject(body, kMaxCommandBatchBody, "a command batch");
  if (!parsed.ok()) return std::move(parsed).error();
  auto list = parsed->find("commands");
  if (list == parsed->end() || !list->is_array() || list->empty() ||
      list->size() > kMaxBatchCommands) {
    return Invalid(
        "\"commands\" must be an array of 1-" + std::to_string(kMaxBatchCommands) + " commands",
        stream_reason::kBadBatch);
  }
  std::vector<BatchItem> items;
  items.reserve(list->size());
  for (const json& item : *list) {
    if (!item.is_object()) {
      items.push_back({std::string(), Invalid("a command must be a JSON object")});
      continue;
    }
    std::string id;
    if (auto it = item.find("command_id"); it != item.end() && it->is_string()) {
      id = it->get<std::string>().substr(0, 100);
    }
    auto stream = item.find("stream");
    if (stream == item.end() || !stream->is_string() ||
        !groups::ParseGroupStream(stream->get<std::string>()).ok()) {
      items.push_back({std::move(id), Invalid("\"stream\" must be a group stream name")});
      continue;
    }
    items.push_back({std::move(id), CommandFromJson(stream->get<std::string>(), item)});
  }
  return items;
}

std::string CommandBatchJson(const std::vector<groups::Command>& commands) {
  json list = json::array();
  for (const groups::Command& c : commands) {
    list.push_back(json{{"stream", c.stream},
                        {"command_id", c.command_id},
                        {"type", c.type},
                        {"actor", c.actor},
                        {"data", c.data}});
  }
  return json{{"commands", std::move(list)}}.dump();
}

std::string CommandResultsJson(const std::vector<CommandResult>& results) {
  json list = json::array();
  for (const CommandResult& r : results) {
    json item{{"command_id", r.command_id}, {"status", r.status}};
    if (r.event) {
      item["seq"] = r.event->seq;
      item["event"] = r.event->ToJson();
    } else {
      json error = json::parse(r.error, nullptr, false);
      if (!error.is_object()) error = json{{"error", "refused"}, {"message", r.error}};
      item["error"] = error.value("error", "refused");
      item["message"] = error.value("message", "");
    }
    list.push_back(std::move(item));
  }
  return json{{"results", std::move(list)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::vector<CommandResult>> ParseCommandResults(const std::vector<groups::Command>& sent,
                                                       std::string_view body) {
  auto parsed =
      ParseObject(body, kMaxBatchCommands * groups::kMaxEventBytes * 2, "a command batch answer");
  if (!parsed.ok()) return std::move(parsed).error();
  auto list = parsed->find("results");
  if (list == parsed->end() || !list->is_array() || list->size() != sent.size()) {
    return Invalid("a command batch answer needs one result per command");
  }
  std::vector<CommandResult> out;
  out.reserve(sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    const json& item = (*list)[i];
    if (!item.is_object()) return Invalid("a command result must be a JSON object");
    CommandResult r;
    auto id = item.find("command_id");
    auto status = item.find("status");
    if (id == item.end() || !id->is_string() || *id != sent[i].command_id || status == item.end() ||
        !status->is_number_integer()) {
      return Invalid("command result " + std::to_string(i) +
                     " does not answer its command (command_id, status)");
    }
    r.command_id = sent[i].command_id;
    r.status = status->get<int>();
    if (r.status < 100 || r.status > 599) return Invalid("a command result's status is invalid");
    if (r.status >= 200 && r.status < 300) {
      auto seq = item.find("seq");
      auto event = item.find("event");
      if (seq == item.end() || !seq->is_number_integer() || event == item.end()) {
        return Invalid("an accepted command's result needs \"seq\" and \"event\"");
      }
      auto parsed_event = groups::EventFromJson(sent[i].stream, *event);
      if (!parsed_event.ok()) return std::move(parsed_event).error();
      if (parsed_event->seq != seq->get<int64_t>()) {
        return Invalid("a command result's seq differs from its event's");
      }
      r.event = std::move(parsed_event).value();
    } else {
      json error{{"error", item.value("error", "refused")},
                 {"message", item.value("message", "")},
                 {"status", r.status}};
      r.error = error.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string CommandJson(const groups::Command& command) {
  return json{{"command_id", command.command_id},
              {"type", command.type},
              {"actor", command.actor},
              {"data", command.data}}
      .dump();
}

Status CheckActorFromSender(const groups::Command& command, std::string_view sender_domain) {
  auto domain = groups::AddressDomain(command.actor);
  if (!domain.ok() || *domain != sender_domain) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "actor " + command.actor.substr(0, 200) +
                         " is not a member of the sending node " + std::string(sender_domain),
                     std::string(stream_reason::kActorNotFromSender));
  }
  return OkStatus();
}

Status CheckStreamOwner(std::string_view stream, std::string_view sender_domain) {
  auto ref = ParseStreamName(stream);
  if (!ref.ok()) return std::move(ref).error();
  if (ref->owner_domain != sender_domain) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "stream " + std::string(stream.substr(0, 200)) + " is owned by " +
                         ref->owner_domain + ", not by the sending node " +
                         std::string(sender_domain),
                     std::string(stream_reason::kNotStreamOwner));
  }
  return OkStatus();
}

std::string CommandAnswerJson(const groups::Event& event) {
  return json{{"seq", event.seq}, {"event", event.ToJson()}}.dump();
}

Result<groups::Event> ParseCommandAnswer(std::string_view stream, std::string_view body) {
  auto parsed = ParseObject(body, groups::kMaxEventBytes * 2, "a command answer");
  if (!parsed.ok()) return std::move(parsed).error();
  auto seq = parsed->find("seq");
  auto event = parsed->find("event");
  if (seq == parsed->end() || !seq->is_number_integer() || event == parsed->end()) {
    return Invalid("a command answer needs \"seq\" and \"event\"");
  }
  auto parsed_event = groups::EventFromJson(stream, *event);
  if (!parsed_event.ok()) return std::move(parsed_event).error();
  if (parsed_event->seq != seq->get<int64_t>()) {
    return Invalid("a command answer's seq differs from its event's");
  }
  return parsed_event;
}

bool ChangesSubscribers(std::string_view type) {
  namespace t = groups::event_type;
  return type == t::kGroupCreated || type == t::kGroupUpdated || type == t::kMemberJoined ||
         type == t::kMemberApproved || type == t::kMemberLeft || type == t::kMemberRemoved ||
         type == t::kMemberInvited;
}

std::string ErrorJson(const Error& error) {
  return json{{"error", std::string(error.Name())}, {"message", error.message}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

Error ErrorFromAnswer(int status, std::string_view body) {
  Error error;
  error.code = CodeForStatus(status);
  error.message = "status " + std::to_string(status);
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    auto message = parsed.find("message");
    if (message != parsed.end() && message->is_string()) {
      error.message = message->get<std::string>().substr(0, 1000);
    }
    auto name = parsed.find("error");
    if (name != parsed.end() && name->is_string() &&
        name->get<std::string>() != ErrorCodeName(error.code)) {
      error.reason = name->get<std::string>().substr(0, 100);
    }
  }
  return error;
}

}  // namespace kith::federation
