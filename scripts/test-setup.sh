#!/usr/bin/env bash
# System packages the test suite needs: Debian's Chromium for browser tests (no browser
# download) and the PostgreSQL server the backend tests start in a temporary folder
# (tests/pgserver.py: initdb + pg_ctl, as the postgres user when run by root).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: Debian chromium not installed; browser tests need it (apt-get install chromium)" >&2
  fi
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "note: PostgreSQL server not installed; backend tests need it (apt-get install postgresql)" >&2
  fi
fi
