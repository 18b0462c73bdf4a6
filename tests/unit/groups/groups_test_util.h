// Helpers for the groups unit tests: a node's GroupStore over a migrated Store in its own
// temporary directory, and short ways to run commands and feed a mirror.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "groups/group_store.h"
#include "storage/clock.h"
#include "tests/unit/identity/identity_test_util.h"

namespace kith::groups::testing {

using identity::testing::Await;
using identity::testing::TempDir;

// One node: its database and its GroupStore for `domain`.
class Node {
 public:
  explicit Node(std::string domain) {
    storage::Store::Options options;
    options.path = dir_.path() / "kith.db";
    auto store = storage::Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (store.ok()) store_ = std::move(store).value();
    groups_ = std::make_unique<GroupStore>(*store_, clock_, std::move(domain));
  }
  ~Node() {
    groups_.reset();
    if (store_) store_->Close();
  }

  GroupStore& groups() { return *groups_; }
  storage::Store& store() { return *store_; }
  FakeClock& clock() { return clock_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  Result<Event> Do(std::string stream, std::string type, std::string actor,
                   nlohmann::json data = nlohmann::json::object()) {
    Command command{std::move(stream), std::move(type), std::move(actor), std::move(data), ""};
    return Await<Event>(
        [&](Done<Event> done) { groups_->Append(std::move(command), std::move(done)); });
  }

  Result<ApplyReport> Apply(const std::string& stream, const std::string& owner,
                            std::vector<Event> events) {
    return Await<ApplyReport>([&](Done<ApplyReport> done) {
      groups_->ApplyRemote(stream, owner, std::move(events), std::move(done));
    });
  }

 private:
  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<GroupStore> groups_;
};

inline nlohmann::json NewGroup(std::string_view visibility = "public",
                               std::string_view join_policy = "open") {
  return {{"name", "Roads and transport"},
          {"description", "Everything about roads"},
          {"tags", {"transport", "roads", "transport"}},
          {"visibility", visibility},
          {"join_policy", join_policy}};
}

}  // namespace kith::groups::testing
