#!/usr/bin/env bash
# Installs scim2-server (PyPI), a SCIM 2.0 service provider this project did not write, into
# target/venv-scim2-server at the pinned version below. The SCIM target's tests start it on a
# free loopback port (crates/tests/src/scim2_server.rs). Needs python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

SCIM2_SERVER_VERSION=0.8.3
VENV=target/venv-scim2-server

installed() {
  [ -x "$VENV/bin/scim2-server" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("scim2-server"))' 2>/dev/null)" = "$SCIM2_SERVER_VERSION" ]
}

if installed; then exit 0; fi
printf '\033[1m==> %s\033[0m\n' "scim2-server $SCIM2_SERVER_VERSION: installing into $VENV" >&2
python3 -m venv "$VENV" || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/pip" install --quiet --disable-pip-version-check "scim2-server==$SCIM2_SERVER_VERSION"
installed || { echo "scim2-server $SCIM2_SERVER_VERSION is not installed in $VENV" >&2; exit 1; }
