# shellcheck shell=bash
# Shared by scripts/run-main.sh and scripts/run-tests.sh. Source it; do not run it.
#
# Sets REPO_ROOT (and changes into it), BUILD_ROOT and OUT_DIR, and defines:
#   ensure_packages   installs the Debian packages in scripts/packages.txt that are missing
#   step NAME CMD...  runs CMD, printing NAME and how long it took

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT" || exit 1

# Build trees go under BUILD_ROOT (build/release, build/asan, build/tsan); the main job writes to
# OUT_DIR. Both are relative to the repo root and gitignored; override them only to keep a
# second set of builds apart.
# shellcheck disable=SC2034  # used by the scripts that source this file
BUILD_ROOT="${STATESTORE_BUILD_ROOT:-build}"
# shellcheck disable=SC2034
OUT_DIR="${STATESTORE_OUT_DIR:-out}"

# The packages every build needs, one per line (Debian 12 names).
mapfile -t STATESTORE_PACKAGES < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' \
  "$REPO_ROOT/scripts/packages.txt")

# Prints the packages that dpkg does not show as installed.
missing_packages() {
  local pkg
  for pkg in "${STATESTORE_PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -qx 'Status: install ok installed'; then
      echo "$pkg"
    fi
  done
}

# apt-get update + install, skipped when every package is already installed.
ensure_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    echo "== packages: all ${#STATESTORE_PACKAGES[@]} installed, skipping apt-get"
    return 0
  fi
  echo "== packages: installing ${missing[*]}"
  local sudo=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "error: missing packages (${missing[*]}) and not root; run as root or install them" >&2
      return 1
    fi
  fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${STATESTORE_PACKAGES[@]}"
}

# step NAME CMD... : runs CMD with a header line and its duration.
step() {
  local name="$1"
  shift
  echo
  echo "== $name: $*"
  local start=$SECONDS
  "$@"
  echo "== $name: done in $((SECONDS - start)) s"
}
