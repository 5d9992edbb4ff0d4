#!/usr/bin/env bash
# Installs the Debian packages Plattr's local stack and tests need, when
# they are missing. Arguments name what is needed:
#   postgres  the PostgreSQL server (initdb, postgres): the stack and tests
#   npm       Node's package manager: the portal's front-end packages
#   chromium  headless Chromium: the portal's browser tests
# Without arguments: postgres and npm.
set -euo pipefail
[ $# -gt 0 ] || set -- postgres npm
have() {
  case "$1" in
    postgres) command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ;;
    npm) command -v npm >/dev/null 2>&1 ;;
    chromium) command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ;;
    *) echo "install-deps: unknown dependency $1" >&2; exit 2 ;;
  esac
}
package() {
  case "$1" in
    postgres) echo postgresql ;;
    *) echo "$1" ;;
  esac
}
missing=()
for dep in "$@"; do
  have "$dep" || missing+=("$(package "$dep")")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}..." >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root, or install them yourself: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for dep in "$@"; do
  have "$dep" || { echo "install-deps: $dep is still missing after installing ${missing[*]}" >&2; exit 1; }
done
