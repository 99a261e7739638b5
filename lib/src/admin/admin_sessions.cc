// statestore/admin.h: ListSessions and FindSession — the sessions of a file as tools see them
// (short ids, metadata, attribute names), never tokens. Reads keyspace "sessions" through the
// Store's public read path (one snapshot) and decodes records with session_record.h.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "sessions/session_keys.h"
#include "sessions/session_record.h"
#include "sessions/session_token.h"
#include "statestore/admin.h"
#include "statestore/error.h"
#include "statestore/store.h"
#include "util/clock.h"

namespace statestore {

namespace {

std::string IdOf(const std::string& record_key) {
  return record_key.substr(internal::session_keys::kRecordPrefix.size());
}

}  // namespace

std::vector<SessionAdminInfo> ListSessions(Store& store, const SessionListOptions& options,
                                           std::size_t* total) {
  if (!options.principal.empty()) internal::ValidatePrincipal(options.principal, false);
  std::vector<Entry> entries;
  store.read([&](Transaction& tx) {
    entries = tx.list(kSessionsKeyspace, internal::session_keys::kRecordPrefix);
  });
  // The store's clock: on PostgreSQL the server's (pg_server_clock.h), as the sessions layer's.
  const std::int64_t now = internal::NowMicros(store.options().clock);
  std::vector<std::pair<std::int64_t, SessionAdminInfo>> found;
  for (const Entry& e : entries) {
    const std::string id = IdOf(e.key);
    internal::SessionRecord r =
        internal::DecodeSessionRecord(e.value, internal::ShortSessionId(id));
    const bool expired = !r.LiveAt(now);
    if (expired && !options.include_expired) continue;
    if (!options.principal.empty() && r.principal != options.principal) continue;
    SessionAdminInfo info;
    info.info = internal::ToSessionInfo(id, r);
    info.expired = expired;
    for (const auto& [name, value] : r.attributes) info.attribute_names.push_back(name);
    found.emplace_back(r.created_us, std::move(info));
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  if (total != nullptr) *total = found.size();
  std::vector<SessionAdminInfo> out;
  for (auto& [created, info] : found) {
    if (options.limit > 0 && out.size() >= options.limit) break;
    out.push_back(std::move(info));
  }
  return out;
}

std::optional<Session> FindSession(Store& store, std::string_view short_id, bool* expired) {
  if (short_id.size() < 4 || short_id.size() > internal::kSessionIdChars ||
      !std::all_of(short_id.begin(), short_id.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + std::string(short_id) +
                    "' is not a session short id (4 to 64 lower-case hex digits, as listed by "
                    "`statectl sessions list`)");
  }
  std::vector<Entry> entries;
  std::string prefix(internal::session_keys::kRecordPrefix);
  prefix += short_id;
  store.read([&](Transaction& tx) { entries = tx.list(kSessionsKeyspace, prefix, 2); });
  if (entries.empty()) return std::nullopt;
  if (entries.size() > 1) {
    throw Error(ErrorCode::kInvalidArgument, "session short id '" + std::string(short_id) +
                                                 "' is ambiguous; give more hex digits of the id");
  }
  const std::string id = IdOf(entries[0].key);
  internal::SessionRecord r =
      internal::DecodeSessionRecord(entries[0].value, internal::ShortSessionId(id));
  if (expired != nullptr) *expired = !r.LiveAt(internal::NowMicros(store.options().clock));
  Session s;
  static_cast<SessionInfo&>(s) = internal::ToSessionInfo(id, r);
  s.attributes = std::move(r.attributes);
  return s;
}

}  // namespace statestore
