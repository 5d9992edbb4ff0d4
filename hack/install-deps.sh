#!/usr/bin/env bash
# Installs the system packages Plattr's local stack and tests need, when they
# are missing: the PostgreSQL server (initdb, postgres) from Debian.
set -euo pipefail
have_postgres() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
if have_postgres; then exit 0; fi
echo "PostgreSQL server binaries are missing: installing Debian's postgresql package..." >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root, or install it yourself: sudo apt-get update && sudo apt-get install -y postgresql" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have_postgres
