#!/usr/bin/env bash
# README command 2: installs missing Debian packages, then
#   (a) build/tsa: the library alone built with clang, whose -Wthread-safety analysis checks every
#       GUARDED_BY / REQUIRES lock annotation (lib/src/util/mutex.h), as errors (~2 min);
#   (b) build/asan: the whole suite (except label soak) under AddressSanitizer + UBSan,
#       including the install/find_package consumer test (label packaging);
#   (c) build/tsan: the tests labelled concurrency under ThreadSanitizer (only those are built).
# The tests labelled concurrency run serially (-j1): they are the timing-sensitive multi-process
# lock tests. The rest run two at a time (under ASan: ~10 min of tests in ~5.5 min on 2 cores;
# all of them also pass at -j2 in the dev build). The conformance tests on the PostgreSQL engine
# (names ending in /postgresql) run after them, two at a time: they wait on the server far more
# than they use a core, and none races the clock. ctest starts
# one throwaway PostgreSQL server per run for them (tests/postgres/CMakeLists.txt).
# STATESTORE_TEST_SOAK=1 also runs the long crash/soak loops (label soak) in build/asan.
# Exits non-zero as soon as a step fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # cd's to the repo root

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

TSA_DIR="$BUILD_ROOT/tsa"  # thread-safety analysis (not ThreadSanitizer: that is tsan)
ASAN_DIR="$BUILD_ROOT/asan"
TSAN_DIR="$BUILD_ROOT/tsan"
# The soak tests are only registered (and only run) with STATESTORE_TEST_SOAK=1.
if [[ "${STATESTORE_TEST_SOAK:-}" == 1 ]]; then SOAK=ON; else SOAK=OFF; fi

started=$SECONDS
current="packages"
report_failure() {
  local rc=$?
  if ((rc != 0)); then
    echo
    echo "run-tests: FAILED during: $current (exit $rc)"
  fi
}
trap report_failure EXIT

ensure_packages

# (a) Lock annotations: lib/CMakeLists.txt adds -Wthread-safety -Werror=thread-safety whenever the
# compiler is clang, so building the library is the check; nothing of it is run.
current="clang thread-safety analysis build ($TSA_DIR)"
step tsa-configure env CXX=clang++ CC=clang cmake -S . -B "$TSA_DIR" -DCMAKE_BUILD_TYPE=Debug \
  -DSTATESTORE_BUILD_TESTS=OFF -DSTATESTORE_BUILD_BENCHMARKS=OFF -DSTATESTORE_BUILD_TOOLS=OFF
step tsa-build cmake --build "$TSA_DIR" --target statestore -j"$(nproc)"

# Sanitizer builds keep assertions (no -DNDEBUG) at -O1, the level the sanitizers recommend, with
# line tables only (-g1): reports still name file:line in every frame, and the heaviest test
# files compile ~25% faster than with full debug info (32 s -> 24 s of CPU for one conformance
# file under ASan+UBSan); the builds are most of this script's time.
SANITIZER_FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1")
CTEST=(ctest --output-on-failure --no-tests=error -j1)

# (b) ASan + UBSan: everything but the soak loops.
current="asan build"
step asan-configure cmake -S . -B "$ASAN_DIR" "${SANITIZER_FLAGS[@]}" \
  -DSTATESTORE_SANITIZE=address,undefined -DSTATESTORE_BUILD_BENCHMARKS=OFF \
  -DSTATESTORE_TEST_SOAK="$SOAK"
step asan-build cmake --build "$ASAN_DIR" -j"$(nproc)"
current="asan+ubsan tests (ctest -LE 'soak|concurrency' -j2 in $ASAN_DIR)"
step asan-test "${CTEST[@]}" -j2 --test-dir "$ASAN_DIR" -LE 'soak|concurrency' -E '/postgresql$'
current="asan+ubsan concurrency tests, one at a time (ctest -L concurrency in $ASAN_DIR)"
step asan-concurrency-test "${CTEST[@]}" --test-dir "$ASAN_DIR" -L concurrency -LE soak \
  -E '/postgresql$'
current="asan+ubsan tests on the PostgreSQL engine (ctest -R /postgresql$ in $ASAN_DIR)"
step asan-pg-test "${CTEST[@]}" -j2 --test-dir "$ASAN_DIR" -LE soak -R '/postgresql$'
asan_summary="asan+ubsan: whole suite passed"

if [[ "$SOAK" == ON ]]; then
  current="soak tests (ctest -L soak in $ASAN_DIR)"
  step soak-test "${CTEST[@]}" --test-dir "$ASAN_DIR" -L soak
  asan_summary+=" + soak"
fi

# (c) TSan: the concurrency tests.
current="tsan build"
step tsan-configure cmake -S . -B "$TSAN_DIR" "${SANITIZER_FLAGS[@]}" \
  -DSTATESTORE_SANITIZE=thread -DSTATESTORE_BUILD_BENCHMARKS=OFF
# Only what -L concurrency runs (tests/CMakeLists.txt: statestore_concurrency_tests).
step tsan-build cmake --build "$TSAN_DIR" --target statestore_concurrency_tests -j"$(nproc)"
# GCC 12's TSan cannot map its shadow memory when the kernel randomizes mmap with more than 28
# bits (newer kernels' default); run the tests with address randomization off then.
tsan_prefix=()
if [[ -r /proc/sys/vm/mmap_rnd_bits ]] && (($(cat /proc/sys/vm/mmap_rnd_bits) > 28)) &&
  setarch "$(uname -m)" -R true 2>/dev/null; then
  tsan_prefix=(setarch "$(uname -m)" -R)
fi
current="tsan tests (ctest -L concurrency in $TSAN_DIR)"
step tsan-test "${tsan_prefix[@]}" "${CTEST[@]}" --test-dir "$TSAN_DIR" -L concurrency \
  -E '/postgresql$'
current="tsan tests on the PostgreSQL engine (ctest -L concurrency -R /postgresql$ in $TSAN_DIR)"
step tsan-pg-test "${tsan_prefix[@]}" "${CTEST[@]}" -j2 --test-dir "$TSAN_DIR" -L concurrency \
  -R '/postgresql$'
current="done"

echo
echo "run-tests: PASSED in $((SECONDS - started)) s: clang thread-safety analysis clean" \
  "($TSA_DIR); ${asan_summary} ($ASAN_DIR); tsan: concurrency tests passed ($TSAN_DIR)"
