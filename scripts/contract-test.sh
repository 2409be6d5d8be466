#!/usr/bin/env bash
# Contract test: runs schemathesis against /openapi.json of a live server, once per backend,
# with every check, every phase (examples, coverage, fuzzing, stateful) and at least 100
# examples per operation. Any failure of any check fails the script.
#
#   scripts/contract-test.sh                  # SQLite, then PostgreSQL
#   scripts/contract-test.sh sqlite           # one backend
#   scripts/contract-test.sh postgres
#
# Each run starts the real binary (`command-center serve`) with a fresh database, the first
# operator `admin`, and an admin API token that schemathesis sends with every request.
# schemathesis is installed into target/venv-schemathesis at the pinned version below.
#
# Environment: CC_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
#              CC_CONTRACT_EXAMPLES (default 100), CC_CONTRACT_WORKERS (default 1),
#              CC_CONTRACT_SEED (default: a fixed seed, so failures reproduce).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=target/venv-schemathesis
EXAMPLES=${CC_CONTRACT_EXAMPLES:-100}
# One worker: with more, hypothesis parses lambda sources from several threads at once, which
# CPython 3.11 can fail with "AST constructor recursion depth mismatch" (a run error).
WORKERS=${CC_CONTRACT_WORKERS:-1}
SEED=${CC_CONTRACT_SEED:-20261203}
PG_URL=${CC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'contract test FAILED: %s\n' "$*" >&2; exit 1; }

ensure_schemathesis() {
  if [ -x "$VENV/bin/st" ] && [ "$("$VENV/bin/st" --version 2>/dev/null)" = "st, version $SCHEMATHESIS_VERSION" ]; then
    return
  fi
  log "schemathesis $SCHEMATHESIS_VERSION: installing into $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

tmp=$(mktemp -d)
server_pid=""
pg_db=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Waits (bounded) until the server printed its address, and prints it.
wait_for_address() { # LOGFILE
  local deadline=$((SECONDS + 60)) addr
  while [ $SECONDS -lt $deadline ]; do
    addr=$(sed -n 's/.* listening on \(http:\/\/[^ ]*\) .*/\1/p' "$1" | head -n 1)
    if [ -n "$addr" ]; then echo "$addr"; return; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$1" "$tmp/server.err" >&2; die "the server exited"; }
    sleep 0.1
  done
  die "the server did not start within 60 s"
}

wait_until_ready() { # BASE
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$1/health/ready"; do
    [ $SECONDS -lt $deadline ] || die "$1/health/ready did not answer 200 within 60 s"
    sleep 0.1
  done
}

schemathesis() { # BASE_URL TOKEN REPORT_NAME [FILTER...]
  local url=$1 token=$2 name=$3
  shift 3
  "$VENV/bin/st" --config-file scripts/schemathesis.toml run "${url%/api/v1}/openapi.json" \
    --url "$url" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --phases "${PHASES:-examples,coverage,fuzzing,stateful}" \
    --max-examples "$EXAMPLES" \
    --workers "$WORKERS" \
    --seed "$SEED" \
    --request-timeout 30 \
    --generation-database none \
    --no-color \
    --report junit --report-dir "target/contract-test/$name" \
    "$@"
}

run_backend() { # sqlite|postgres
  local backend=$1 db_url
  case "$backend" in
    sqlite) db_url="sqlite://$tmp/contract.db" ;;
    postgres)
      pg_db="cc_contract_$$"
      psql "$PG_URL" -qAtc "CREATE DATABASE $pg_db" >/dev/null || die "cannot create a database at ${PG_URL%%\?*}"
      db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG_URL" "$pg_db")
      ;;
    *) die "unknown backend $backend" ;;
  esac
  log "contract test ($backend): starting the server"
  local password="contract-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  # Rate limits stay on, set high enough for one client sending thousands of requests a
  # minute from one address; login throttling keeps its defaults (its 429s are documented).
  CC_LISTEN=127.0.0.1:0 CC_DATABASE_URL="$db_url" CC_REDIS_URL="" CC_LOG=warn CC_LOG_FORMAT=json \
    CC_BOOTSTRAP_ADMIN_PASSWORD="$password" \
    CC_RATE_LIMIT_PER_ADDRESS_PER_MINUTE=1000000 CC_RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE=1000000 \
    CC_AUTH_ACCESS_TOKEN_TTL_SECS=3600 \
    "$BIN" serve >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  local base; base=$(wait_for_address "$tmp/server.out")
  wait_until_ready "$base"

  local access token
  access=$(curl -fsS -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  local created
  created=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $access" \
    -d '{"name":"contract-test","role":"admin","expires_in_days":1}' "$base/api/v1/tokens")
  token=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])' <<<"$created")
  # The hooks keep schemathesis from demoting this operator or revoking this token.
  CC_CONTRACT_TOKEN_ID=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$created")
  CC_CONTRACT_OPERATOR_ID=$(curl -fsS -H "authorization: Bearer $token" "$base/api/v1/auth/me" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["operator_id"])')
  export CC_CONTRACT_TOKEN_ID CC_CONTRACT_OPERATOR_ID

  log "contract test ($backend): schemathesis $SCHEMATHESIS_VERSION, $EXAMPLES examples per operation"
  local rc=0
  # The health probes are served at the root, outside the document's server URL (`/api/v1`),
  # and schemathesis takes one base URL per run: they get a second run of their own, without
  # the stateful phase (no link leads to or from a probe).
  schemathesis "$base/api/v1" "$token" "$backend" --exclude-path-regex '^/health/' || rc=$?
  PHASES=examples,coverage,fuzzing \
    schemathesis "$base" "$token" "$backend-health" --include-path-regex '^/health/' || rc=$?

  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if grep -q '"level":"ERROR"' "$tmp/server.err"; then
    grep '"level":"ERROR"' "$tmp/server.err" | head -n 20 >&2
    die "the server logged errors during the $backend run"
  fi
  if [ -n "$pg_db" ]; then
    psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
    pg_db=""
  fi
  rm -f "$tmp"/contract.db*
  if [ "$rc" -ne 0 ]; then
    printf 'contract test: schemathesis found failures on %s (exit %s)\n' "$backend" "$rc" >&2
    return 1
  fi
  log "contract test ($backend): no failures"
}

backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(sqlite postgres)

ensure_schemathesis
log "contract test: building command-center"
cargo build --quiet -p command-center
BIN=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/command-center
failed=()
for b in "${backends[@]}"; do run_backend "$b" || failed+=("$b"); done
[ ${#failed[@]} -eq 0 ] || die "failures on ${failed[*]}"
