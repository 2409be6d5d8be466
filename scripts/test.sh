#!/usr/bin/env bash
# Runs every test against real services. On a machine that lacks them, installs and starts
# PostgreSQL and Redis (Debian packages) on loopback first; where they already run, uses them.
# Installs PostgreSQL's server binaries (the restart test runs a server of its own), OpenLDAP's
# slapd (the LDAP tests start their own on a free loopback port), jq (used by the example
# bash script target), Chromium, chromedriver, npm and axe-core (the console's browser tests,
# axe-core into target/) and python3-venv (schemathesis, for the contract test, is installed
# into target/venv-schemathesis by scripts/contract-test.sh; scim2-server, for the SCIM
# target's tests, into target/venv-scim2-server by scripts/install-scim2-server.sh; scim2-tester,
# for the SCIM compliance run, into target/venv-scim by scripts/scim-compliance.sh). Last, the
# container test (scripts/container-test.sh: podman and its tools from Debian, as root) builds
# the image and runs the Compose stack.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -p cc-domain    # extra arguments go to the test runner (and skip the
#                                   # contract, SCIM compliance and container runs)
#
# Environment: CC_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
#              CC_TEST_REDIS_URL (default redis://127.0.0.1:6379),
#              CC_CI_BUILD (default quick: see scripts/container-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; return 1; fi; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

export CC_TEST_POSTGRES_URL="${CC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CC_TEST_REDIS_URL="${CC_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

pg_up() { command -v psql >/dev/null && psql "$CC_TEST_POSTGRES_URL" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if pg_up; then log "PostgreSQL: using the server at ${CC_TEST_POSTGRES_URL%%\?*}"; return; fi
  if ! command -v pg_ctlcluster >/dev/null; then log "PostgreSQL: installing"; apt_install postgresql postgresql-client; fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  if ! pg_lsclusters -h | grep -q "^$version main"; then as_root pg_createcluster "$version" main >/dev/null; fi
  log "PostgreSQL $version: starting"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  if ! pg_up; then
    # A fresh Debian cluster asks for a password over TCP: give the test role one.
    as_root runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    export CC_TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
  fi
  pg_up || { echo "PostgreSQL did not come up at $CC_TEST_POSTGRES_URL" >&2; exit 1; }
}

# The PostgreSQL restart test runs a server of its own (initdb, pg_ctl) on a free port: the
# server binaries must be installed even where the shared server runs elsewhere.
ensure_postgres_binaries() {
  if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then return; fi
  log "PostgreSQL server binaries: installing"
  apt_install postgresql
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "pg_ctl is not installed under /usr/lib/postgresql" >&2; exit 1; }
}

redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -u "$CC_TEST_REDIS_URL" ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  if redis_up; then log "Redis: using the server at $CC_TEST_REDIS_URL"; return; fi
  if ! command -v redis-server >/dev/null; then log "Redis: installing"; apt_install redis-server; fi
  log "Redis: starting on 127.0.0.1:6379"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 50); do redis_up && break; sleep 0.2; done
  redis_up || { echo "Redis did not come up at $CC_TEST_REDIS_URL" >&2; exit 1; }
}

# The LDAP tests run their own slapd per test (crates/tests/src/ldap.rs); they only need the
# binary, the mdb and ppolicy modules and the schema files. A system slapd the package starts
# is left alone: the tests use other ports.
ensure_slapd() {
  if [ -x /usr/sbin/slapd ] && [ -f /etc/ldap/schema/inetorgperson.schema ]; then
    log "OpenLDAP: using $(/usr/sbin/slapd -VV 2>&1 | head -1 | sed 's/^.*slapd/slapd/;s/ (.*//')"
  else
    log "OpenLDAP: installing slapd and ldap-utils"
    apt_install slapd ldap-utils
  fi
  [ -x /usr/sbin/slapd ] || { echo "slapd is not installed at /usr/sbin/slapd" >&2; exit 1; }
}

# The console's browser tests (crates/tests/tests/console.rs) drive Debian's Chromium through
# chromedriver, and scan pages with axe-core, installed with npm into target/axe (not committed).
ensure_browser() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    log "Chromium: installing chromium and chromium-driver"
    apt_install --no-install-recommends chromium chromium-driver fonts-dejavu-core
  fi
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || {
    echo "chromium and chromium-driver are not installed (/usr/bin/chromium, /usr/bin/chromedriver)" >&2; exit 1; }
  command -v npm >/dev/null || { log "npm: installing"; apt_install --no-install-recommends npm; }
  if [ ! -f target/axe/node_modules/axe-core/axe.min.js ]; then
    log "axe-core: installing into target/axe"
    npm install --no-audit --no-fund --silent --prefix target/axe axe-core
  fi
}

# The OpenID Connect sign-in tests (crates/tests/tests/oidc.rs) run the certified `oidc-provider`
# package on loopback (scripts/oidc-provider/provider.mjs), installed with npm into
# target/oidc-provider (not committed).
ensure_oidc_provider() {
  command -v npm >/dev/null || { log "npm: installing"; apt_install --no-install-recommends npm; }
  if [ ! -f target/oidc-provider/node_modules/oidc-provider/package.json ]; then
    log "oidc-provider: installing into target/oidc-provider"
    npm install --no-audit --no-fund --silent --prefix target/oidc-provider oidc-provider@9
  fi
}

ensure_jq() {
  command -v jq >/dev/null || { log "jq: installing"; apt_install jq; }
}

ensure_postgres
ensure_postgres_binaries
ensure_redis
# The TLS tests make their certificates with openssl.
command -v openssl >/dev/null || { log "openssl: installing"; apt_install openssl; }
# The metrics test checks the exposition with promtool (Debian package prometheus).
command -v promtool >/dev/null || { log "promtool: installing (package prometheus)"; apt_install prometheus; }
ensure_slapd
ensure_jq
# The student labs (crates/tests/tests/labs.rs) run sqlite3 and psql as the labs tell students.
command -v sqlite3 >/dev/null || { log "sqlite3: installing"; apt_install sqlite3; }
command -v psql >/dev/null || { log "psql: installing"; apt_install postgresql-client; }
ensure_browser
ensure_oidc_provider

# The contract test (scripts/contract-test.sh) makes a Python virtual environment.
python3 -c 'import ensurepip, venv' 2>/dev/null || { log "python3-venv: installing"; apt_install python3-venv; }
# The SCIM target's tests run scim2-server (PyPI) from target/venv-scim2-server.
scripts/install-scim2-server.sh

# The email notification tests send to a real SMTP server on loopback: aiosmtpd from PyPI,
# installed into target/venv-aiosmtpd at a pinned version.
if [ ! -x target/venv-aiosmtpd/bin/python ] || ! target/venv-aiosmtpd/bin/python -c 'import aiosmtpd' 2>/dev/null; then
  log "aiosmtpd: installing into target/venv-aiosmtpd"
  python3 -m venv target/venv-aiosmtpd
  target/venv-aiosmtpd/bin/pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6
fi

if cargo nextest --version >/dev/null 2>&1; then
  log "Running the tests (cargo nextest)"
  cargo nextest run --workspace --no-fail-fast "$@"
  # nextest does not run doctests; run them when the whole suite was asked for.
  if [ $# -eq 0 ]; then cargo test --workspace --doc --quiet; fi
else
  log "Running the tests (cargo test)"
  cargo test --workspace --no-fail-fast "$@"
fi

# The API contract: schemathesis against /openapi.json of the real binary, on both backends,
# and SCIM compliance: scim2-tester against /scim/v2 (every check of what the server declares
# must pass), when the whole suite was asked for.
if [ $# -eq 0 ]; then
  log "Running the contract test (schemathesis)"
  scripts/contract-test.sh
  log "Running the SCIM compliance check (scim2-tester)"
  scripts/scim-compliance.sh
  # The image from deploy/Dockerfile and the stack from deploy/docker-compose.yml on podman,
  # with the proofs only a running stack gives (deploy/README.md, "Tested on podman"). The
  # lighter release profile keeps it inside the CI budget; CC_CI_BUILD=release builds what
  # users build.
  log "Running the container test (podman; scripts/container-test.sh)"
  as_root env CC_CI_BUILD="${CC_CI_BUILD:-quick}" scripts/container-test.sh
fi
