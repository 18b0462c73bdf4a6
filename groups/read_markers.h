// Per-member read markers (storage/migrations/0009_read_markers.sql), for the unread counts of
// the members' pages: for each thread a member opened, the thread's last_post_at at that moment.
// A thread is unread when its last_post_at is after the member's marker (or, without a marker,
// when someone else started it).
//
// Thread-safety: thread-safe (reads borrow pool connections, writes go to the writer).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "identity/write_result.h"
#include "storage/result.h"
#include "storage/store.h"

namespace kith::groups {

class ReadMarkers {
 public:
  // `store` outlives this.
  explicit ReadMarkers(storage::Store& store) : store_(store) {}

  // thread id -> read_at of `member` ("handle@domain") in `stream`; empty when none.
  Result<std::map<int64_t, int64_t>> Get(std::string_view member, std::string_view stream);

  // Records that `member` read `thread_id` of `stream` up to `read_at` (never moves a marker
  // back). The write is queued; `done` is called once on the writer thread with its outcome.
  void Mark(std::string member, std::string stream, int64_t thread_id, int64_t read_at,
            identity::Done<void> done);

 private:
  storage::Store& store_;
};

}  // namespace kith::groups
