// BodyScope — marks the running thread as executing a transaction body.
//
// Store entry points that would open their own transaction (transact, read, get, list,
// history...) refuse to run inside a body: the thread's connection may be inside the body's
// write transaction (a read there would see — and could cache — uncommitted data), and a nested
// transact() would wait for the group commit leader, which may be this very thread.
#ifndef STATESTORE_SRC_BODY_SCOPE_H_
#define STATESTORE_SRC_BODY_SCOPE_H_

namespace statestore::internal {

class BodyScope {
 public:
  BodyScope() { ++depth_; }
  ~BodyScope() { --depth_; }
  BodyScope(const BodyScope&) = delete;
  BodyScope& operator=(const BodyScope&) = delete;

  static bool Active() { return depth_ > 0; }

 private:
  static thread_local int depth_;
};

// Throws Error(kInvalidArgument) naming `what` when called from inside a transaction body.
void RefuseInsideBody(const char* what);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_BODY_SCOPE_H_
