# Shared by deploy/test and deploy/demo: set up what cbdialer needs on a fresh machine, idempotently.
# Rule: reuse what is there and works; install only what is missing; say what is being done.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state_dir=${CBDIALER_SANDBOX_STATE:-/var/lib/cbdialer-sandbox}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ensure_venv() {
  local python=${PYTHON:-python3} stamp="$repo/.venv/.cbdialer-installed" want
  command -v "$python" >/dev/null || die "python3 not found: install Python 3.11 or newer"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed ($("$python" -V))"
  want=$(sha256sum "$repo/pyproject.toml" | cut -c1-16)
  if [ -x "$repo/.venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  say "creating the virtual environment .venv and installing cbdialer with its test tools"
  [ -x "$repo/.venv/bin/python" ] || "$python" -m venv "$repo/.venv"
  "$repo/.venv/bin/pip" install --quiet --disable-pip-version-check -e "$repo[test]" 2>&1 \
    | grep -v 'is ignored: it is neither a file nor a directory' >&2 || true
  "$repo/.venv/bin/python" -c 'import cbdialer, panoramisk, asyncpg, aiohttp, pytest' \
    || die "installing the virtual environment failed"
  echo "$want" >"$stamp"
}

# Debian's Chromium for the browser tests (Playwright drives it; its own browser download cannot work here).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  say "installing Debian's chromium for the browser tests"
  command -v apt-get >/dev/null || die "apt-get not found: install Chromium as /usr/bin/chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
    || die "installing chromium failed"
}

# promtool (Debian's prometheus package) for the test that checks the alert rules: taken out of the package
# into the cache, without installing it (its postinst would start a Prometheus server). Sets PROMTOOL.
ensure_promtool() {
  local dir=${CBDIALER_SANDBOX_CACHE:-/var/cache/cbdialer}/promtool
  export PROMTOOL="$dir/usr/bin/promtool"
  [ -x "$PROMTOOL" ] && return 0
  say "taking promtool out of Debian's prometheus package (the alert rules' check)"
  command -v apt-get >/dev/null || die "apt-get not found: set PROMTOOL to a promtool binary"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; }) \
    || die "downloading Debian's prometheus package failed"
  mkdir -p "$dir" && dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" && install -D -m 0755 "$tmp/x/usr/bin/promtool" "$PROMTOOL" \
    || die "extracting promtool failed"
  rm -rf "$tmp"
}

pg_answers() {
  "$repo/.venv/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import asyncio, sys, asyncpg
async def main():
    conn = await asyncio.wait_for(asyncpg.connect(sys.argv[1]), 5)
    await conn.close()
asyncio.run(main())
PY
}

# Sets CBDIALER_TEST_DATABASE_URL to a PostgreSQL server where `postgres` may create databases: the one
# given, else the local one on 5432 if it lets us in, else a cluster of our own (Debian's packages).
ensure_postgres() {
  if [ -n "${CBDIALER_TEST_DATABASE_URL:-}" ]; then
    pg_answers "$CBDIALER_TEST_DATABASE_URL" || die "CBDIALER_TEST_DATABASE_URL does not answer"
    return 0
  fi
  local url=postgresql://postgres@127.0.0.1:5432/postgres
  if [ -z "${CBDIALER_OWN_POSTGRES:-}" ] && pg_answers "$url"; then
    export CBDIALER_TEST_DATABASE_URL=$url
    return 0
  fi
  local port=${CBDIALER_OWN_POSTGRES_PORT:-55432} data=${CBDIALER_OWN_POSTGRES_DATA:-/var/lib/cbdialer-postgres} bin
  url=postgresql://postgres@127.0.0.1:$port/postgres
  if pg_answers "$url"; then
    export CBDIALER_TEST_DATABASE_URL=$url
    return 0
  fi
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    say "no PostgreSQL answers: installing Debian's postgresql"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  mkdir -p "$state_dir"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a PostgreSQL cluster of cbdialer's own in $data (port $port, trust on loopback)"
    install -d -o postgres -g postgres -m 700 "$data"
    runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres -A trust >/dev/null
  fi
  say "starting PostgreSQL on 127.0.0.1:$port"
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k /tmp" start >/dev/null
  pg_answers "$url" || die "PostgreSQL did not answer on port $port (log: $data/server.log)"
  export CBDIALER_TEST_DATABASE_URL=$url
}
