#!/usr/bin/env bash
# The demo's target: the bash script target (cc-target.sh, one JSON file per account in
# $CC_SCRIPT_STATE_DIR) with a switch that takes it offline. While the file named by
# $CC_DEMO_OFFLINE exists, every operation fails with a permanent error, so the job that
# meets it is discarded and can be retried once the switch is removed.
set -euo pipefail
if [ -n "${CC_DEMO_OFFLINE:-}" ] && [ -e "$CC_DEMO_OFFLINE" ]; then
  cat >/dev/null
  jq -cn --arg f "$CC_DEMO_OFFLINE" \
    '{error: ("the demo target is offline on purpose: remove " + $f + " to bring it back"), retryable: false}'
  exit 1
fi
exec bash "$(dirname -- "${BASH_SOURCE[0]}")/cc-target.sh"
