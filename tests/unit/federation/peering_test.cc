#include "federation/peering.h"

#include <gtest/gtest.h>

#include <optional>

namespace kith::federation {
namespace {

using S = PeerState;
using E = PeerEvent;

TEST(PeeringTest, HappyPathsReachActive) {
  auto requested = NextPeerState(std::nullopt, E::kWeRequest);
  ASSERT_TRUE(requested.ok());
  EXPECT_EQ(*requested, S::kRequested);
  EXPECT_EQ(*NextPeerState(S::kRequested, E::kTheyAccept), S::kActive);

  auto pending = NextPeerState(std::nullopt, E::kTheyRequest);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, S::kPending);
  EXPECT_EQ(*NextPeerState(S::kPending, E::kWeApprove), S::kActive);
}

TEST(PeeringTest, SuspendResumeRevoke) {
  EXPECT_EQ(*NextPeerState(S::kActive, E::kSuspend), S::kSuspended);
  EXPECT_EQ(*NextPeerState(S::kSuspended, E::kResume), S::kActive);
  for (S from : {S::kRequested, S::kPending, S::kActive, S::kSuspended}) {
    EXPECT_EQ(*NextPeerState(from, E::kRevoke), S::kRevoked) << PeerStateName(from);
  }
  EXPECT_EQ(*NextPeerState(S::kPending, E::kWeReject), S::kRejected);
  EXPECT_EQ(*NextPeerState(S::kRequested, E::kTheyReject), S::kRejected);
}

TEST(PeeringTest, IllegalTransitionsAreConflicts) {
  struct Case {
    std::optional<S> from;
    E event;
  };
  const Case cases[] = {
      {std::nullopt, E::kWeApprove},  {std::nullopt, E::kSuspend},    {std::nullopt, E::kRevoke},
      {S::kActive, E::kWeApprove},    {S::kActive, E::kResume},       {S::kActive, E::kWeRequest},
      {S::kActive, E::kTheyRequest},  {S::kRequested, E::kWeApprove}, {S::kPending, E::kTheyAccept},
      {S::kSuspended, E::kSuspend},   {S::kRevoked, E::kResume},      {S::kRevoked, E::kRevoke},
      {S::kRevoked, E::kTheyRequest}, {S::kRejected, E::kWeApprove},  {S::kRevoked, E::kTheyAccept},
  };
  for (const Case& c : cases) {
    auto next = NextPeerState(c.from, c.event);
    ASSERT_FALSE(next.ok()) << PeerEventName(c.event);
    EXPECT_EQ(next.error().code, ErrorCode::kConflict);
    EXPECT_NE(next.error().message.find(c.from ? PeerStateName(*c.from) : "not known"),
              std::string::npos)
        << next.error().message;
  }
}

TEST(PeeringTest, OperatorMayRetryAfterRejectionOrRevocation) {
  EXPECT_EQ(*NextPeerState(S::kRejected, E::kWeRequest), S::kRequested);
  EXPECT_EQ(*NextPeerState(S::kRevoked, E::kWeRequest), S::kRequested);
  EXPECT_EQ(*NextPeerState(S::kRejected, E::kTheyRequest), S::kPending);
  EXPECT_EQ(*NextPeerState(S::kPending, E::kTheyRequest), S::kPending);
}

TEST(PeeringTest, StateNamesRoundTrip) {
  for (S s : {S::kRequested, S::kPending, S::kActive, S::kSuspended, S::kRevoked, S::kRejected}) {
    auto parsed = ParsePeerState(PeerStateName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(ParsePeerState("Active").ok());
  EXPECT_FALSE(ParsePeerState("").ok());
}

}  // namespace
}  // namespace kith::federation
