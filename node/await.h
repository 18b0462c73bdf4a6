// AwaitDone: turns a callback-style operation (identity/write_result.h `Done<T>`, or the
// PasswordHasher's callbacks, which run on the writer or hasher thread) into an awaitable, so
// that a route handler can write
//
//   Result<Member> m = co_await AwaitDone<Member>(
//       [&](identity::Done<Member> done) { members.Add(std::move(new_member), done); });
//
// The result is posted back to the awaiting coroutine's executor, so the handler resumes on
// its own I/O thread, never on the writer's. `start` is called exactly once, synchronously;
// the callback it receives must be called exactly once (from any thread).
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <utility>

#include "storage/result.h"

namespace kith::node {

template <class T>
boost::asio::awaitable<Result<T>> AwaitDone(
    std::function<void(std::function<void(Result<T>)>)> start) {
  // Not a coroutine itself (returns async_initiate's awaitable): one frame less per call, and
  // it sidesteps GCC 12's false -Wmismatched-new-delete on nested awaitable frames.
  namespace asio = boost::asio;
  auto initiate = [start = std::move(start)](auto handler) mutable {
    // One shared slot: the callback may be copied (std::function) but runs once.
    auto slot = std::make_shared<decltype(handler)>(std::move(handler));
    start([slot](Result<T> result) mutable {
      auto ex = asio::get_associated_executor(*slot);
      asio::post(ex, [slot, result = std::move(result)]() mutable { (*slot)(std::move(result)); });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>, void(Result<T>)>(std::move(initiate),
                                                                              asio::use_awaitable);
}

}  // namespace kith::node
