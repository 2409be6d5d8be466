#!/usr/bin/env bash
# Runs once when the dev container is created (postCreateCommand).
#
# Installs what the test suite and the deployment checks use, all from
# Debian's packages or crates.io:
#   - PostgreSQL, Redis and OpenLDAP (slapd) servers and their clients: the
#     tests run against the real services on loopback; scripts/test.sh starts
#     them when needed, nothing is started here.
#   - promtool and amtool for scripts/check-deploy.sh (Docker Compose v2 comes
#     with the docker-in-docker feature).
#   - just and cargo-watch (`just dev` hot reload).
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends \
  postgresql postgresql-client \
  redis-server redis-tools \
  slapd ldap-utils \
  prometheus prometheus-alertmanager \
  jq >/dev/null

# The Debian packages enable their services for systemd; a dev container has
# no init system, and the tests start their own instances anyway.

for tool in just cargo-watch; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! cargo "${tool#cargo-}" --version >/dev/null 2>&1; then
    cargo install --locked --quiet "$tool"
  fi
done

# Warm the dependency cache so the first build does not wait on downloads.
cargo fetch --locked >/dev/null 2>&1 || cargo fetch

echo "dev container ready: 'just' lists the recipes; 'just run' starts the server on :8080."
