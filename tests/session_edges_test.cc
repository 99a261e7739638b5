// How session listeners read a commit (issue 11, part 5): SessionEventHub::ToEvents, from
// lib/src/sessions/session_events.h, turns one Commit into events. A unit test of the sessions
// layer on hand-made Commits (no store); the sessions API edges on a store (hostile tokens,
// principals, update with a result, limits) are in conformance/session_edges_conformance_test.cc.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "../lib/src/sessions/session_events.h"  // SessionEventHub::ToEvents: what a commit means
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

Change RecordChange(const std::string& id, bool before, bool after) {
  Change c;
  c.keyspace = std::string(kSessionsKeyspace);
  c.key = "s/" + id;
  if (before) c.old_value = Value(Bytes(32, 1));
  if (after) c.new_value = Value(Bytes(32, 2));
  c.redacted = true;
  return c;
}

Commit MakeCommit(std::string label, std::vector<Change> changes) {
  Commit c;
  c.revision = 7;
  c.origin.label = std::move(label);
  c.changes = std::move(changes);
  return c;
}

TEST(SessionEventsFromHistoryTest, WhatACommitMeans) {
  using internal::SessionEventHub;
  using Kind = SessionEvent::Kind;
  const std::string a(64, 'a'), b(64, 'b'), c(64, 'c');
  Change index;  // index and counter keys are not events
  index.keyspace = std::string(kSessionsKeyspace);
  index.key = "x/0000000000000001/" + a;
  index.new_value = Value();
  Change other_keyspace = RecordChange(a, false, true);
  other_keyspace.keyspace = "app";

  auto ev = SessionEventHub::ToEvents(MakeCommit("", {RecordChange(a, false, true), index}));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kCreated);
  EXPECT_EQ(ev[0].session_id, a);
  EXPECT_EQ(ev[0].revision, 7u);

  ev = SessionEventHub::ToEvents(MakeCommit("", {RecordChange(a, true, true), other_keyspace}));
  EXPECT_TRUE(ev.empty()) << "an attribute write or another keyspace is no event";

  ev = SessionEventHub::ToEvents(
      MakeCommit("sessions: sweep", {RecordChange(a, true, false), RecordChange(b, true, false)}));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::kExpired);
  EXPECT_EQ(ev[1].kind, Kind::kExpired);
  EXPECT_EQ(ev[1].session_id, b);

  ev = SessionEventHub::ToEvents(
      MakeCommit("sessions: rotate", {RecordChange(a, true, false), RecordChange(b, false, true)}));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kRotated);
  EXPECT_EQ(ev[0].session_id, b);
  EXPECT_EQ(ev[0].previous_id, a);

  // The rotate label on anything but one pair is read literally.
  ev = SessionEventHub::ToEvents(MakeCommit(
      "sessions: rotate",
      {RecordChange(a, true, false), RecordChange(b, false, true), RecordChange(c, false, true)}));
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, Kind::kDestroyed);
  EXPECT_EQ(ev[1].kind, Kind::kCreated);
  EXPECT_EQ(ev[2].kind, Kind::kCreated);

  // Created and destroyed within one commit: nothing happened for anyone outside it.
  ev = SessionEventHub::ToEvents(
      MakeCommit("", {RecordChange(a, false, true), RecordChange(a, true, false)}));
  EXPECT_TRUE(ev.empty());
  // An eviction and a create in one commit, in the commit's order.
  ev = SessionEventHub::ToEvents(
      MakeCommit("", {RecordChange(a, true, false), RecordChange(b, false, true)}));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::kDestroyed);
  EXPECT_EQ(ev[1].kind, Kind::kCreated);
}

}  // namespace
}  // namespace statestore
