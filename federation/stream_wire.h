// The wire forms of the stream messages (docs/federation.md, "Streams"): parsing and
// validating what a peer sent, and building what we send. Nothing here touches the database
// or the network. Every parser takes untrusted bytes and answers kInvalidArgument (400),
// kTooLarge (413) or kPermissionDenied (403, with a reason) saying what was wrong; none throws.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "groups/event.h"
#include "storage/result.h"

namespace kith::federation {

// Machine-readable reasons of stream refusals (the JSON "error" field).
namespace stream_reason {
inline constexpr std::string_view kActorNotFromSender = "actor_not_from_sender";
inline constexpr std::string_view kNotStreamOwner = "not_stream_owner";
inline constexpr std::string_view kNotOwnedHere = "stream_not_owned_here";
inline constexpr std::string_view kNotSubscribed = "not_subscribed";
inline constexpr std::string_view kBadBatch = "bad_batch";
}  // namespace stream_reason

inline constexpr size_t kMaxCommandBody = 128 * 1024;  // a command's JSON at most
inline constexpr size_t kMaxPullLimit = 1000;          // events per pull page at most

// The domain of a node id (base URL): host[:port] as written in the URL (Boost.URL), e.g.
// "https://a.example:8443/" → "a.example:8443". kInvalidArgument for anything else.
Result<std::string> DomainOfNode(std::string_view base_url);

// The two kinds of stream (DESIGN.md, "streams"): "group:<slug>@<domain>" and
// "directory@<domain>". ParseStreamName is the one place that decides which a name is, and
// who owns it; kInvalidArgument for anything else.
enum class StreamKind { kGroup, kDirectory };
struct StreamName {
  StreamKind kind = StreamKind::kGroup;
  std::string owner_domain;
};
Result<StreamName> ParseStreamName(std::string_view stream);

// Whether `id` is a valid command id: 1-100 characters of [A-Za-z0-9_-].
bool IsValidCommandId(std::string_view id);
// A fresh random command id (22 characters, base64url).
std::string NewCommandId();

// A pushed batch: POST .../streams/{stream}/events  {"stream":"...","events":[event...]}.
struct EventBatch {
  std::string stream;
  std::vector<groups::Event> events;  // non-empty, consecutive ascending seqs
};

// Parses a pushed batch for the stream of the request path. Checks: size (kTooLarge beyond
// `max_bytes`), a JSON object whose "stream" (when present) equals `stream`, "events" a
// non-empty array of at most `max_events` events, each valid (EventFromJson and
// ValidateEventData for a group stream, DirectoryEventFromJson for a directory stream), seqs
// consecutive and ascending (a duplicate or reordering inside one batch is refused: a sender never
// produces one).
Result<EventBatch> ParseEventBatch(std::string_view stream, std::string_view body, size_t max_bytes,
                                   size_t max_events = 10000);

// The body of a pushed batch, and of a pull answer (with "head").
std::string EventBatchJson(std::string_view stream, const std::vector<groups::Event>& events);
std::string EventsPageJson(std::string_view stream, const std::vector<groups::Event>& events,
                           int64_t head);

// A pull answer: {"stream":"...","events":[...],"head":N}. Same checks as a batch, except that
// the events may be empty and must start after `after`.
struct EventsPage {
  std::vector<groups::Event> events;
  int64_t head = 0;
};
Result<EventsPage> ParseEventsPage(std::string_view stream, std::string_view body, int64_t after,
                                   size_t max_bytes);

// A command: POST .../streams/{stream}/commands
//   {"command_id":"...","type":"...","actor":"h@d","data":{...}}
// Checks the shape, the command id, a known type, the actor's address and the data
// (ValidateEventData). The stream is the request path's.
Result<groups::Command> ParseCommand(std::string_view stream, std::string_view body);
std::string CommandJson(const groups::Command& command);

// A batch of commands: POST /federation/v1/commands
//   {"commands":[{"stream":"group:s@d","command_id":"...","type":"...","actor":"h@d",
//                 "data":{...}}, ...]}
// for streams the receiver owns, in the order their actors made them. The envelope must be a
// JSON object whose "commands" is an array of 1..kMaxBatchCommands objects, at most
// kMaxCommandBatchBody bytes (else the whole batch is refused). Each item is parsed like a
// single command plus its "stream" (a group stream name); an item that does not parse gets its
// own error, the others go on. `command_id` is the item's id when it has a string one (for
// matching the answer), else empty.
inline constexpr size_t kMaxBatchCommands = 100;
inline constexpr size_t kMaxCommandBatchBody = 2 * 1024 * 1024;
struct BatchItem {
  std::string command_id;
  Result<groups::Command> command;
};
Result<std::vector<BatchItem>> ParseCommandBatch(std::string_view body);
std::string CommandBatchJson(const std::vector<groups::Command>& commands);

// The owner's verdict on one command of a batch: `status` as for a single command (200 with
// the event, or the error status with `error`, the JSON error object {"error","message"}).
struct CommandResult {
  std::string command_id;
  int status = 0;
  std::optional<groups::Event> event;  // status 200
  std::string error;                   // otherwise: {"error":...,"message":...}
};
// The answer to a batch: {"results":[{"command_id":"...","status":200,"seq":N,"event":{...}} |
// {"command_id":"...","status":403,"error":"...","message":"..."}, ...]}, one per item in the
// batch's order.
std::string CommandResultsJson(const std::vector<CommandResult>& results);
// Parses the answer to `sent` (the batch as sent): one result per command, in order, with
// matching command ids; an accepted one's event must be of the command's stream.
Result<std::vector<CommandResult>> ParseCommandResults(const std::vector<groups::Command>& sent,
                                                       std::string_view body);

// A node speaks for its own members only: 403 actor_not_from_sender unless the actor's domain
// is `sender_domain`.
Status CheckActorFromSender(const groups::Command& command, std::string_view sender_domain);
// Only the owner pushes a stream (group or directory): 403 not_stream_owner unless the
// stream's domain is `sender_domain` (kInvalidArgument for a malformed stream name).
Status CheckStreamOwner(std::string_view stream, std::string_view sender_domain);

// The owner's answer to a command: {"seq":N,"event":{...}}.
std::string CommandAnswerJson(const groups::Event& event);
Result<groups::Event> ParseCommandAnswer(std::string_view stream, std::string_view body);

// Whether an event of this type can change who subscribes to its stream (membership,
// invitations and visibility).
bool ChangesSubscribers(std::string_view type);

// {"error": name, "message": message} of an Error.
std::string ErrorJson(const Error& error);
// The Error a peer's JSON error answer stands for: the HTTP status mapped back to an
// ErrorCode, the message and reason taken from the body when present.
Error ErrorFromAnswer(int status, std::string_view body);

}  // namespace kith::federation
