#!/usr/bin/env bash
# SCIM compliance: runs scim2-tester (PyPI) against /scim/v2 of the real binary with a fresh
# SQLite database and a `scim` API token. Any check ending in an error or a deviation fails
# the script; checks of what ServiceProviderConfig does not declare are skipped.
#
#   scripts/scim-compliance.sh
#
# scim2-tester and scim2-client are installed into target/venv-scim at the pinned versions
# below. scripts/test.sh runs this after the test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

SCIM2_TESTER_VERSION=0.5.2
SCIM2_CLIENT_VERSION=0.13.2
VENV=target/venv-scim
BIN=${CC_BIN:-target/debug/command-center}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'SCIM compliance FAILED: %s\n' "$*" >&2; exit 1; }

ensure_tester() {
  if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('scim2-tester') != '$SCIM2_TESTER_VERSION' or m.version('scim2-client') != '$SCIM2_CLIENT_VERSION')" 2>/dev/null; then
    return
  fi
  log "scim2-tester $SCIM2_TESTER_VERSION, scim2-client $SCIM2_CLIENT_VERSION: installing into $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "scim2-tester==$SCIM2_TESTER_VERSION" "scim2-client[httpx2]==$SCIM2_CLIENT_VERSION"
}

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

ensure_tester
# Built (or found up to date) every time: a stale binary would check yesterday's server.
if [ -z "${CC_BIN:-}" ]; then cargo build --quiet -p command-center; fi
password="scim-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
log "SCIM compliance: starting the server"
CC_LISTEN=127.0.0.1:0 CC_DATABASE_URL="sqlite://$tmp/scim.db" CC_REDIS_URL="" CC_LOG=warn CC_LOG_FORMAT=json \
  CC_BOOTSTRAP_ADMIN_PASSWORD="$password" \
  CC_RATE_LIMIT_PER_ADDRESS_PER_MINUTE=1000000 CC_RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE=1000000 \
  "$BIN" serve >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!

deadline=$((SECONDS + 60)); base=""
while [ $SECONDS -lt $deadline ]; do
  base=$(sed -n 's/.* listening on \(http:\/\/[^ ]*\) .*/\1/p' "$tmp/server.out" | head -n 1)
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.out" "$tmp/server.err" >&2; die "the server exited"; }
  sleep 0.1
done
[ -n "$base" ] || die "the server did not start within 60 s"
until curl -fsS -o /dev/null "$base/health/ready"; do
  [ $SECONDS -lt $deadline ] || die "$base/health/ready did not answer 200"
  sleep 0.1
done

access=$(curl -fsS -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/auth/login" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
token=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $access" \
  -d '{"name":"scim-compliance","role":"scim","expires_in_days":1}' "$base/api/v1/tokens" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')

log "SCIM compliance: scim2-tester $SCIM2_TESTER_VERSION against $base/scim/v2"
rc=0
"$VENV/bin/python" scripts/scim-compliance.py "$base/scim/v2" "$token" || rc=$?
if grep -q '"level":"ERROR"' "$tmp/server.err"; then
  grep '"level":"ERROR"' "$tmp/server.err" | head -n 20 >&2
  die "the server logged errors"
fi
[ $rc -eq 0 ] || die "scim2-tester reported failures"
log "SCIM compliance: passed"
