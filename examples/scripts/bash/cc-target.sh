#!/usr/bin/env bash
# A Command Center script target in bash: keeps one JSON file per account under
# $CC_SCRIPT_STATE_DIR (a stand-in for a real system), and shows the whole contract:
#
#   stdin   {"operation", "dry_run", "target", "request_id", "user", "previous", "link", "password"}
#   stdout  {"account_id", "changes": [...], "detail": {...}}       exit 0
#           {"error": "...", "retryable": true|false}                exit 1 (or 75: retryable)
#
# Every operation converges: running it twice changes nothing the second time. With
# "dry_run": true it reports the changes it would make and writes nothing. User data is only
# ever read with jq and used as data (quoted), never as code. Requires bash and jq.
set -euo pipefail

fail() { # message retryable
  jq -cn --arg e "$1" --argjson r "$2" '{error: $e, retryable: $r}'
  exit 1
}

command -v jq >/dev/null || { echo '{"error":"jq is not installed","retryable":false}'; exit 1; }
state_dir="${CC_SCRIPT_STATE_DIR:-}"
[ -n "$state_dir" ] || fail "CC_SCRIPT_STATE_DIR is not set" false
mkdir -p -- "$state_dir" 2>/dev/null || true
[ -d "$state_dir" ] && [ -w "$state_dir" ] || fail "state directory $state_dir is not writable" true

input=$(cat)
op=$(jq -r '.operation' <<<"$input")
dry_run=$(jq -r '.dry_run' <<<"$input")
username=$(jq -r '.user.username' <<<"$input")
previous=$(jq -r '.previous.username // empty' <<<"$input")
linked=$(jq -r '.link.account_id // empty' <<<"$input")

# Usernames are validated upstream ([a-z0-9._-]); refuse anything else rather than build a path.
safe() { [[ "$1" =~ ^[a-z0-9][a-z0-9._-]*$ ]]; }
safe "$username" || fail "unsafe username" false

# Find the account: by link, then by username, then by the previous username.
current=""
for candidate in "$linked" "$username" "$previous"; do
  if [ -n "$candidate" ] && safe "$candidate" && [ -f "$state_dir/$candidate.json" ]; then
    current="$candidate"; break
  fi
done
old='null'
[ -n "$current" ] && old=$(cat "$state_dir/$current.json")

hash_password() { jq -r '.password // empty' <<<"$input" | { read -r pw || true; [ -n "${pw:-}" ] && printf '%s' "$pw" | sha256sum | cut -d' ' -f1; } || true; }

# The record this operation wants, from the user and the operation.
desired() { # enabled
  jq -c --argjson enabled "$1" --argjson old "$old" --arg pw "$(hash_password)" '
    .user as $u
    | {account_id: $u.username, username: $u.username, given_name: $u.given_name,
       family_name: $u.family_name, email: $u.email, school: $u.school, grade: $u.grade,
       role: $u.role, enabled: $enabled,
       password_sha256: (if $pw != "" then $pw else ($old.password_sha256 // null) end)}' <<<"$input"
}

diff_changes() { # old new
  jq -cn --argjson old "$1" --argjson new "$2" '
    if $old == null then [{kind: "create", object: $new.account_id}]
    else [ $new | keys[] as $k | select($k != "password_sha256" and $old[$k] != $new[$k])
           | if $k == "account_id" then {kind: "move", object: $new.account_id, from: $old[$k], to: $new[$k]}
             elif $k == "enabled" then {kind: (if $new[$k] then "enable" else "disable" end), object: $new.account_id}
             else {kind: "modify", object: $new.account_id, attribute: $k, from: $old[$k], to: $new[$k]} end ]
    end
    + (if $old != null and $new.password_sha256 != null and $old.password_sha256 != $new.password_sha256
       then [{kind: "set_password", object: $new.account_id}] else [] end)'
}

write() { # new
  [ "$dry_run" = "true" ] && return 0
  local id; id=$(jq -r '.account_id' <<<"$1")
  printf '%s\n' "$1" >"$state_dir/$id.json.tmp"
  mv "$state_dir/$id.json.tmp" "$state_dir/$id.json"
  if [ -n "$current" ] && [ "$current" != "$id" ]; then rm -f "$state_dir/$current.json"; fi
}

respond() { # account_id changes
  jq -cn --arg id "$1" --argjson c "$2" --arg op "$op" --argjson dry "$dry_run" \
    '{account_id: (if $id == "" then null else $id end), changes: $c, detail: {operation: $op, dry_run: $dry}}'
}

case "$op" in
  provision|update)
    enabled=true
    if [ "$op" = update ] && [ "$(jq -r '.user.status' <<<"$input")" = suspended ]; then enabled=false; fi
    new=$(desired "$enabled")
    if [ "$op" = update ] && [ "$old" != null ]; then
      # An update keeps the stored password: only provision and reset_password set one.
      new=$(jq -c --argjson old "$old" '.password_sha256 = ($old.password_sha256 // null)' <<<"$new")
    fi
    changes=$(diff_changes "$old" "$new")
    [ "$changes" = "[]" ] || write "$new"
    respond "$(jq -r .account_id <<<"$new")" "$changes"
    ;;
  suspend)
    if [ "$old" = null ]; then respond "" "[]"; exit 0; fi
    new=$(jq -c '.enabled = false' <<<"$old")
    changes=$(diff_changes "$old" "$new")
    [ "$changes" = "[]" ] || write "$new"
    respond "$current" "$changes"
    ;;
  reset_password)
    [ "$old" != null ] || fail "no account for $username: provision it first" false
    pw=$(hash_password)
    [ -n "$pw" ] || fail "reset_password needs a password" false
    new=$(jq -c --arg pw "$pw" '.password_sha256 = $pw' <<<"$old")
    changes=$(diff_changes "$old" "$new")
    [ "$changes" = "[]" ] || write "$new"
    respond "$current" "$changes"
    ;;
  deprovision)
    if [ "$old" = null ]; then respond "" "[]"; exit 0; fi
    [ "$dry_run" = "true" ] || rm -f "$state_dir/$current.json"
    respond "" "$(jq -cn --arg id "$current" '[{kind: "delete", object: $id}]')"
    ;;
  *)
    fail "unknown operation $op" false
    ;;
esac
