// A write that fails in the operating system (here: a file size limit, RLIMIT_FSIZE, set in a
// worker process so that the test process is not affected) gives kIoError or kFull; the Store then
// refuses every later write with kIoError until reopened, reads keep working, and after a reopen
// every acknowledged commit is there and the failed one is not.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ChildProcess;
using test::TempDir;

const milliseconds kChildTimeout(120'000 * test::kSlowFactor);

TEST(IoErrorTest, FailedWritePoisonsWritesButKeepsReadsAndAcknowledgedCommits) {
  TempDir dir;
  const std::string db = dir.file("state.db");
  {
    auto store = Store::open(db);
    store->put("app", "before", Value("kept"));
  }
  // Enough for a handful of 64 KiB commits (state + history) in the WAL, then EFBIG.
  auto worker = ChildProcess::SpawnWorker({"fsize", db, std::to_string(1536 * 1024)});
  std::string out = worker.ReadAll(kChildTimeout);
  ASSERT_EQ(worker.Wait(kChildTimeout), 0) << out;

  Revision last_rev = 0;
  std::optional<int> failed, after;
  std::string read;
  for (const auto& line : [&] {
         std::vector<std::string> lines;
         std::size_t pos = 0;
         while (pos < out.size()) {
           auto nl = out.find('\n', pos);
           if (nl == std::string::npos) nl = out.size();
           lines.push_back(out.substr(pos, nl - pos));
           pos = nl + 1;
         }
         return lines;
       }()) {
    auto words = test::SplitWords(line);
    if (words.size() != 2) continue;
    if (words[0] == "rev") last_rev = std::stoull(words[1]);
    if (words[0] == "failed") failed = std::stoi(words[1]);
    if (words[0] == "after") after = words[1] == "ok" ? -1 : std::stoi(words[1]);
    if (words[0] == "read") read = words[1];
  }
  ASSERT_TRUE(failed.has_value()) << "no write failed under the file size limit:\n" << out;
  EXPECT_GE(last_rev, 2u) << "the limit was hit before any commit:\n" << out;
  const int code = *failed;
  EXPECT_TRUE(code == static_cast<int>(ErrorCode::kIoError) ||
              code == static_cast<int>(ErrorCode::kFull))
      << "the failed write gave " << ToString(static_cast<ErrorCode>(code));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(*after, static_cast<int>(ErrorCode::kIoError))
      << "a write after a failed commit was not refused with kIoError (got "
      << (*after == -1 ? std::string("success")
                       : std::string(ToString(static_cast<ErrorCode>(*after))))
      << ")";
  EXPECT_EQ(read, "ok") << "reads after the failure returned wrong values";

  // Reopen (without the limit): acknowledged commits are there, the failed one is not.
  auto store = Store::open(db);
  EXPECT_EQ(store->history_bounds().head, last_rev);
  EXPECT_EQ(store->get("app", "before"), std::optional<Value>(Value("kept")));
  const std::size_t acked = static_cast<std::size_t>(last_rev - 1);  // revision 1 was "before"
  for (std::size_t i = 0; i < acked; ++i) {
    auto v = store->get("app", "big" + std::to_string(i));
    ASSERT_TRUE(v.has_value()) << "acknowledged write big" << i << " lost";
    EXPECT_EQ(v->as_string().substr(0, std::to_string(i).size()), std::to_string(i));
  }
  EXPECT_EQ(store->get("app", "big" + std::to_string(acked)), std::nullopt)
      << "the failed write is in the file";
  EXPECT_EQ(store->get("app", "small"), std::nullopt);
  EXPECT_EQ(store->history().size(), static_cast<std::size_t>(last_rev));
  // Writable again after the reopen.
  EXPECT_EQ(store->put("app", "small", Value(2)), last_rev + 1);
}

}  // namespace
}  // namespace statestore
