#!/usr/bin/env bash
# README command 1: installs missing Debian packages, builds a Release build in build/release
# (tools and benchmarks, no tests) and runs the main job: the demos (core and sessions, then
# config), the example web service's self-test over real HTTP, the short durability benchmark,
# then statectl inspect and history on the resulting files.
# Output goes to out/ (gitignored).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # cd's to the repo root

BUILD_DIR="$BUILD_ROOT/release"
WORK_DIR="$OUT_DIR"
started=$SECONDS

ensure_packages

step configure cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
  -DSTATESTORE_BUILD_TESTS=OFF -DSTATESTORE_BUILD_BENCHMARKS=ON -DSTATESTORE_BUILD_TOOLS=ON
step build cmake --build "$BUILD_DIR" -j"$(nproc)"

mkdir -p "$WORK_DIR"
# A fresh database for the demo: the file and its sidecars (-wal, -shm, ...).
rm -f "$WORK_DIR/demo.db" "$WORK_DIR"/demo.db-*

step demo "$BUILD_DIR/examples/statestore_demo" "$WORK_DIR/demo.db"
# The config API on the same file: layered settings, an atomic edit, a watch and a revert.
step config-demo "$BUILD_DIR/examples/statestore_config_demo" "$WORK_DIR/demo.db"
# The example web service (examples/web_service) on its own file, driven through real HTTP:
# login, a per-session counter, settings refused and accepted, a watched feature flag, logout.
rm -f "$WORK_DIR/web.db" "$WORK_DIR"/web.db-*
step web-service "$BUILD_DIR/examples/statestore_web_service" "$WORK_DIR/web.db" --self-test
# The durability benchmark, short mode: commit throughput/latency for 1/4/16/64 writers against
# raw SQLite, LMDB and RocksDB, point reads, and a SIGKILL crash run; table, CSV and SVG charts in
# out/bench. It fails if the crash run finds a lost or partial commit.
step bench "$BUILD_DIR/bench/statestore_durability_bench" --short --out "$WORK_DIR/bench"

# Last: look at the demo's and the web service's databases with statectl (read-only).
step statectl-inspect "$BUILD_DIR/tools/statectl" inspect "$WORK_DIR/demo.db"
step statectl-inspect-web "$BUILD_DIR/tools/statectl" inspect "$WORK_DIR/web.db"
step statectl-history "$BUILD_DIR/tools/statectl" history "$WORK_DIR/demo.db" --limit 12 \
  --newest-first

echo
echo "run-main: OK in $((SECONDS - started)) s: demo database $WORK_DIR/demo.db," \
  "benchmark output $WORK_DIR/bench"
