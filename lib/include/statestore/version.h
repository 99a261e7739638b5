// statestore library version and the newest schema this build understands.
#ifndef STATESTORE_VERSION_H_
#define STATESTORE_VERSION_H_

namespace statestore {

// Semantic version of the library.
const char* LibraryVersion();
// Highest migration number embedded in this build (PRAGMA user_version of a current database).
int SchemaVersion();

}  // namespace statestore

#endif  // STATESTORE_VERSION_H_
