#!/usr/bin/env bash
# Generate the Docker secrets that deploy/docker-compose.yml expects, as files
# under deploy/secrets/ (git-ignored). See deploy/secrets/README.md.
#
#   deploy/gen-secrets.sh            create missing secrets, keep existing ones
#   deploy/gen-secrets.sh --force    replace them all but a filled-in Slack
#                                    webhook URL and the master key (then
#                                    recreate the stack: a new postgres_password
#                                    is NOT applied to an existing pgdata volume)
#
# POSTGRES_USER and POSTGRES_DB are read from deploy/.env when it exists, so
# the database URL matches what the postgres container creates.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir="$here/secrets"
force=false

case "${1:-}" in
  "") ;;
  -f | --force) force=true ;;
  -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

# Read one KEY=value from deploy/.env without sourcing it (no code runs).
env_value() {
  local key=$1 default=$2 value=""
  if [[ -f "$here/.env" ]]; then
    value=$(sed -n "s/^[[:space:]]*$key[[:space:]]*=[[:space:]]*//p" "$here/.env" | tail -n 1 | tr -d '\r')
    value=${value%\"}; value=${value#\"}; value=${value%\'}; value=${value#\'}
  fi
  printf '%s' "${value:-$default}"
}

# Letters and digits only: safe inside a URL, a shell word and YAML.
random() {
  local n=${1:-32} out=""
  while ((${#out} < n)); do
    out+=$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' || true)
  done
  printf '%s' "${out:0:n}"
}

created=()
kept=()

# write NAME VALUE: no trailing newline; readable by the containers' own
# non-root users (prometheus, grafana, uid 10001...), because compose mounts
# file secrets with the host file's mode. The directory itself is 0700, so
# other users of the host cannot reach them.
write() {
  local name=$1 value=$2 path="$dir/$1"
  if [[ -s "$path" && $force == false ]]; then
    kept+=("$name")
    return
  fi
  printf '%s' "$value" >"$path.tmp"
  chmod 0644 "$path.tmp"
  mv -f "$path.tmp" "$path"
  created+=("$name")
}

mkdir -p "$dir"
chmod 0700 "$dir"

pg_user=$(env_value POSTGRES_USER command_center)
pg_db=$(env_value POSTGRES_DB command_center)

if [[ -s "$dir/postgres_password" && $force == false ]]; then
  pg_password=$(cat "$dir/postgres_password")
else
  pg_password=$(random 32)
fi
write postgres_password "$pg_password"
write database_url "postgres://$pg_user:$pg_password@postgres:5432/$pg_db"
write bootstrap_admin_password "$(random 24)"
write metrics_token "$(random 48)"
# --force keeps an existing master key: replacing it would leave the signing
# key stored in PostgreSQL sealed under a key nobody has (see secrets/README.md
# for rotating it).
if [[ -s "$dir/master_key" ]]; then
  kept+=(master_key)
else
  write master_key "mk1:$(random 48)"
fi
write grafana_admin_password "$(random 24)"
# Not random: an incoming-webhook URL from Slack (or Mattermost/Rocket.Chat,
# which accept the same payload). Until it is replaced, Alertmanager logs a
# failed notification for each alert group instead of delivering it.
# --force keeps a webhook URL that was already filled in.
if [[ -s "$dir/slack_webhook_url" ]] && ! grep -q REPLACE "$dir/slack_webhook_url"; then
  kept+=(slack_webhook_url)
else
  write slack_webhook_url "https://hooks.slack.com/services/REPLACE/WITH/YOUR-WEBHOOK"
fi

# database_url must embed the current postgres_password.
if [[ "$(cat "$dir/database_url")" != *":$(cat "$dir/postgres_password")@"* ]]; then
  echo "warning: secrets/database_url does not contain secrets/postgres_password;" >&2
  echo "         run with --force to regenerate both." >&2
fi

((${#created[@]})) && echo "created: ${created[*]}"
((${#kept[@]})) && echo "kept:    ${kept[*]}"
echo "secrets are in $dir"
echo "first login: user 'admin', password in secrets/bootstrap_admin_password;"
echo "Grafana: user '$(env_value GRAFANA_ADMIN_USER admin)', password in secrets/grafana_admin_password."
if grep -q REPLACE "$dir/slack_webhook_url"; then
  echo "note: put your Slack-compatible webhook URL in secrets/slack_webhook_url to receive alerts."
fi
