// SubmitWrite: the one async write pattern of the identity stores.
//
// Every store write is `void Op(args..., Done<T> done)`: the work runs as one storage::Writer
// job (group commit, in its own savepoint), and `done` is called exactly once on the writer
// thread with the job's value after the batch holding it is durable, or with the job's error
// (the job's changes are then rolled back), or with the commit's error. `done` must be short
// and must not block: the HTTP layer wraps it into an asio awaitable by posting the result
// back to its executor.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "storage/database.h"
#include "storage/result.h"
#include "storage/writer.h"

namespace kith::identity {

template <class T>
using Done = std::function<void(Result<T>)>;

// Runs `job` on the writer and hands its value to `done` once committed.
template <class T>
void SubmitWrite(storage::Writer& writer, std::function<Result<T>(storage::Database&)> job,
                 Done<T> done) {
  auto slot = std::make_shared<std::optional<T>>();
  writer.Submit(
      [job = std::move(job), slot](storage::Database& db) -> Status {
        auto result = job(db);
        if (!result.ok()) return std::move(result).error();
        slot->emplace(std::move(result).value());
        return OkStatus();
      },
      [slot, done = std::move(done)](Status status) {
        if (!status.ok()) {
          done(std::move(status).error());
        } else if (!slot->has_value()) {
          done(MakeError(ErrorCode::kInternal, "write job finished without a value"));
        } else {
          done(std::move(**slot));
        }
      });
}

// For jobs with no value.
inline void SubmitWrite(storage::Writer& writer, std::function<Status(storage::Database&)> job,
                        Done<void> done) {
  writer.Submit(std::move(job),
                [done = std::move(done)](Status status) { done(std::move(status)); });
}

}  // namespace kith::identity
