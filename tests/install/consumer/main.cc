// Consumer of an installed statestore: opens a Store in a fresh temporary directory, commits one
// put, reads it back. Exits 0 only if the value round-trips.
#include <statestore/statestore.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

namespace {

int RoundTrip(const std::filesystem::path& dir) {
  const std::string expected = "hello from an installed statestore";
  auto store = statestore::Store::open((dir / "consumer.db").string());
  const statestore::Revision revision = store->transact(
      [&](statestore::Transaction& tx) { tx.put("consumer", "greeting", expected); });
  const std::optional<statestore::Value> got = store->get("consumer", "greeting");
  if (revision == 0) {
    std::cerr << "consumer: transact() returned revision 0 for a put\n";
    return 1;
  }
  if (!got) {
    std::cerr << "consumer: get() found nothing after revision " << revision << "\n";
    return 1;
  }
  if (got->type() != statestore::ValueType::kString || got->as_string() != expected) {
    std::cerr << "consumer: get() returned " << got->to_display() << ", expected \"" << expected
              << "\"\n";
    return 1;
  }
  std::cout << "consumer: statestore " << statestore::LibraryVersion() << " (schema "
            << statestore::SchemaVersion() << "): revision " << revision << " round-tripped "
            << got->to_display() << "\n";
  return 0;
}

}  // namespace

int main() {
  std::error_code ec;
  const std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
  if (ec) {
    std::cerr << "consumer: no temp directory: " << ec.message() << "\n";
    return 1;
  }
  std::string dir_template = (tmp / "statestore-consumer-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    std::perror("consumer: mkdtemp");
    return 1;
  }
  const std::filesystem::path dir = dir_template;

  int rc = 1;
  try {
    rc = RoundTrip(dir);  // the Store is closed when this returns
  } catch (const statestore::Error& e) {
    std::cerr << "consumer: statestore::Error (" << statestore::ToString(e.code()) << ", sqlite "
              << e.sqlite_code() << "): " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "consumer: exception: " << e.what() << "\n";
  }
  std::filesystem::remove_all(dir, ec);
  return rc;
}
