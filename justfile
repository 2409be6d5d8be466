# Command Center developer and operator shortcuts.  `just` lists them.
#
# Local development needs only cargo (`just run`). The container recipes use
# Docker Compose (v2 plugin if present, else docker-compose v1) with
# deploy/docker-compose.yml; run `just setup` once before the first `just up`.
# Set CC_HOST_METRICS=1 to add deploy/docker-compose.host-metrics.yml (full
# host and per-container metrics from node-exporter and cAdvisor).

compose_bin := `if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo "docker-compose"; fi`
host_metrics := if env_var_or_default("CC_HOST_METRICS", "") == "1" { " -f deploy/docker-compose.host-metrics.yml" } else { "" }
compose := compose_bin + " --project-directory deploy -f deploy/docker-compose.yml" + host_metrics
monitoring_services := "prometheus alertmanager grafana loki promtail node-exporter cadvisor"

# List the recipes.
default:
    @just --list --unsorted

# Run the server locally with demo data, rebuilding on every change (cargo-watch).
dev:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -f .env ]; then set -a; . ./.env; set +a; fi
    if ! cargo watch --version >/dev/null 2>&1; then
        echo "cargo-watch is not installed, so there is no hot reload."
        echo "Install it with:  cargo install --locked cargo-watch"
        echo "or run without reloading:  just run"
        exit 1
    fi
    exec cargo watch --clear --watch crates --watch Cargo.toml -x 'run -- serve --demo'

# Run the server locally with demo data (SQLite under ./data, workers in-process).
run *args:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -f .env ]; then set -a; . ./.env; set +a; fi
    exec cargo run -- serve --demo {{args}}

# Run every test (scripts/test.sh starts the databases it needs).
test *args:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -f scripts/test.sh ]; then
        exec bash scripts/test.sh {{args}}
    fi
    echo "scripts/test.sh not found; running cargo test --workspace" >&2
    exec cargo test --workspace {{args}}

# Validate the deployment files (promtool, amtool, compose config, dashboard).
check-deploy *args:
    bash scripts/check-deploy.sh {{args}}

# Create deploy/.env from the example and generate the Docker secrets (keeps existing ones).
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -f deploy/.env ]; then
        cp deploy/.env.example deploy/.env
        echo "created deploy/.env from deploy/.env.example"
    fi
    deploy/gen-secrets.sh

# Build the command-center image.
build: _require-setup
    {{compose}} build

# Start the core services: postgres, redis, migrate, api, worker.
up: _require-setup
    {{compose}} up -d --build
    {{compose}} ps

# Start the monitoring stack only (Prometheus, Grafana, Alertmanager, Loki, promtail, exporters).
monitoring: _require-setup
    {{compose}} --profile monitoring up -d {{monitoring_services}}
    @echo "Grafana http://localhost:3000  Prometheus http://localhost:9090  Alertmanager http://localhost:9093"

# Start everything: core services and the monitoring stack.
full: _require-setup
    {{compose}} --profile monitoring up -d --build
    {{compose}} --profile monitoring ps
    @echo "API http://localhost:8080  Grafana http://localhost:3000  Prometheus http://localhost:9090"

# Run N worker containers (default 2).
scale n="2": _require-setup
    {{compose}} up -d --no-recreate --scale worker={{n}} worker

# Stop and remove the containers of every profile; volumes (data) are kept.
stop:
    {{compose}} --profile monitoring --profile backup down --remove-orphans

# Remove containers AND volumes: database, backups, metrics, logs. Asks first; `just clean yes` does not.
clean confirm="":
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "{{confirm}}" != "yes" ]; then
        if [ ! -t 0 ]; then
            echo "refusing to delete volumes without confirmation: run 'just clean yes'" >&2
            exit 1
        fi
        read -r -p "Delete all Command Center containers and volumes, including the database and its backups? Type 'yes': " answer
        [ "$answer" = "yes" ] || { echo "aborted"; exit 1; }
    fi
    {{compose}} --profile monitoring --profile backup down -v --remove-orphans

# Show the containers and ask a running API replica for its self-check.
status:
    #!/usr/bin/env bash
    set -uo pipefail
    {{compose}} --profile monitoring --profile backup ps
    echo
    if [ -n "$({{compose}} ps -q api 2>/dev/null)" ]; then
        # `check` reports configuration and every dependency; `health` (the
        # readiness report) is shown as well when `check` fails.
        {{compose}} exec -T api command-center check || {{compose}} exec -T api command-center health
    else
        echo "api is not running (just up)"
    fi

# Follow the logs of all or the named services, e.g. `just logs api worker`.
logs *services:
    {{compose}} --profile monitoring logs -f --tail=100 {{services}}

# Dump the database into the pgbackup volume (pg_dump custom format).
backup: _require-setup
    {{compose}} --profile backup run --rm pg-backup

_require-setup:
    #!/usr/bin/env bash
    if [ ! -f deploy/.env ] || [ ! -s deploy/secrets/database_url ]; then
        echo "deploy/.env or deploy/secrets/ is missing: run 'just setup' first" >&2
        exit 1
    fi
