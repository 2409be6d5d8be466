#!/usr/bin/env bash
# Build the container image and run the Compose stack (deploy/) on podman, then
# prove against the live stack what only a running stack can prove.
#
#   scripts/container-test.sh            everything: engine, images, stack, proofs
#   scripts/container-test.sh images     only prepare the engine and build the images
#   scripts/container-test.sh base       only the engine and the base images
#
# Environment:
#   CC_CI_BUILD=quick   build the project image with the lighter release
#                       profile of scripts/container/rust-quick.Containerfile
#                       (no LTO, opt-level 1): what .ci/run uses, to fit the
#                       CI budget. Default: the release profile users build.
#   CC_CI_CARGO_TARGET  host directory mounted as the build's target/ (default
#                       /var/cache/command-center-ci/target): compiled
#                       dependencies outlive the checkout, so a new clone on
#                       the same machine recompiles only the workspace.
#   CC_CI_REUSE_IMAGE=1 keep an existing project image (working on proofs).
#
# What it does (deploy/README.md, "Tested on podman", has the figures):
#   1. engine: installs podman, runc, docker-compose 1.29, debootstrap... with
#      apt-get when missing; writes its own containers.conf (runc, cgroupfs,
#      ulimits within the host's hard limits) under target/container-ci and
#      starts `podman system service` on a socket there for docker-compose.
#   2. base images, built once and kept (tagged localhost/cc-ci/...): a
#      debootstrapped debian:bookworm-slim, and from it the build stage (the
#      host's Rust toolchain and crates.io registry), PostgreSQL 15, Redis 7,
#      Prometheus and Alertmanager from Debian packages. Upstream images cannot
#      be pulled on these machines.
#   3. the project image from deploy/Dockerfile as users build it; only its
#      build arguments RUST_IMAGE and RUNTIME_IMAGE name the local images,
#      and the build's target/ is a host directory kept between runs.
#   4. the stack: deploy/docker-compose.yml plus
#      scripts/container/docker-compose.podman.yml, which only swaps the images
#      that cannot be pulled (same environment, volumes, secrets, health checks).
#   5. the proofs (each failure stops the run with "FAILED: ..." and exit 1).
#
# Containers, networks and volumes of the test project are removed on exit;
# the images stay cached. Exit codes: 0 all proofs passed, 1 a proof or a step
# failed, 2 usage.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
here=$root/scripts/container
WORK=$root/target/container-ci
mkdir -p "$WORK"

MODE=${1:-all}
case ${CC_CI_BUILD:=release} in
  quick | release) ;;
  *) echo "CC_CI_BUILD must be quick or release, not '$CC_CI_BUILD'" >&2; exit 2 ;;
esac
case $MODE in
  all | images | base) ;;
  -h | --help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [images|base]" >&2; exit 2 ;;
esac

PROJECT=cc-ci
CC_IMAGE=localhost/command-center:ci
JOBS=${CC_CI_JOBS:-10000}
SPREAD_SECONDS=${CC_CI_SPREAD_SECONDS:-90}
T0=$(date +%s)

step() { printf '==> [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
# A command that fails outside a proof's own checks still says where.
trap 'printf "FAILED: line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

# wait_for DESCRIPTION DEADLINE_SECONDS COMMAND...: run COMMAND every second
# until it succeeds; fail with DESCRIPTION when the deadline passes.
wait_for() {
  local what=$1 limit=$2 start
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) - start >= limit)); then
      die "$what: not reached within ${limit}s"
    fi
    sleep 1
  done
  info "$what ($(($(date +%s) - start))s)"
}

# --- 1. engine ------------------------------------------------------------------

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
  [[ $(id -u) -eq 0 ]] || die "must run as root (podman as root with runc): $*"
  info "installing $* (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$WORK/apt.log" 2>&1; then
    apt-get update -qq >>"$WORK/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1 ||
      { cat "$WORK/apt.log" >&2; die "apt-get install $* failed"; }
  fi
}

engine() {
  step "engine: podman, runc, docker-compose"
  [[ $(id -u) -eq 0 ]] || die "podman runs as root here (runc + cgroupfs); run as root"
  local missing=() pkg
  for pkg in podman runc docker-compose debootstrap netavark aardvark-dns iptables catatonit curl jq; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  info "$(podman --version), $(runc --version | sed -n 1p), $(docker-compose version --short)"

  # The engine's configuration, for this script's podman only (CONTAINERS_CONF).
  # runc: crun fails on these hosts (hybrid cgroups). A container may not raise
  # a limit above the host's hard limit, so the defaults are the host's.
  local nofile nproc
  nofile=$(ulimit -Hn)
  [[ $nofile == unlimited ]] && nofile=1048576
  ((nofile > 65536)) && nofile=65536
  nproc=$(ulimit -Hu)
  [[ $nproc == unlimited ]] && nproc=4096
  ((nproc > 4096)) && nproc=4096
  cat >"$WORK/containers.conf" <<EOF
# Written by scripts/container-test.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
init_path = "/usr/bin/catatonit"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
EOF
  export CONTAINERS_CONF=$WORK/containers.conf
  info "containers.conf: runc, cgroupfs, nofile=$nofile, nproc=$nproc, netavark"
}

# `podman system service` gives docker-compose the Docker API on a socket.
SERVICE_PID=""
start_service() {
  local sock=$WORK/podman.sock
  rm -f "$sock"
  podman system service --time=0 "unix://$sock" >"$WORK/podman-service.log" 2>&1 &
  SERVICE_PID=$!
  export DOCKER_HOST=unix://$sock
  wait_for "podman API socket answers" 30 curl -sf --unix-socket "$sock" http://d/_ping
}

# --- 2. base images ---------------------------------------------------------------

have_image() { podman image exists "$1"; }

# Content hash of files: a base image is rebuilt when its recipe changes.
recipe_tag() { cat "$@" | sha256sum | cut -c1-12; }

BASE_IMAGE=localhost/cc-ci/debian:bookworm-slim
base_debian() {
  if have_image "$BASE_IMAGE"; then
    info "$BASE_IMAGE: cached"
    return
  fi
  local rootfs=$WORK/rootfs-bookworm
  rm -rf "$rootfs"
  info "debootstrap bookworm (minbase)"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  cat >"$rootfs/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
  tar -C "$rootfs" --numeric-owner -cf - . |
    podman import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_IMAGE" >"$WORK/import.log" 2>&1
  rm -rf "$rootfs"
  info "$BASE_IMAGE: imported"
}

# build_local NAME TAG CONTAINERFILE [podman build options...]
build_local() {
  local name=$1 tag=$2 file=$3
  shift 3
  local image=localhost/cc-ci/$name:$tag
  if have_image "$image"; then
    info "$image: cached" >&2
  else
    info "$image: building" >&2
    podman build --format docker -f "$file" --build-arg "BASE_IMAGE=$BASE_IMAGE" "$@" -t "$image" "$here" \
      >"$WORK/build-$name.log" 2>&1 || { tail -n 30 "$WORK/build-$name.log" >&2; die "building $image failed"; }
    # Older recipes of the same image are no longer used.
    podman images --format '{{.Repository}}:{{.Tag}}' "localhost/cc-ci/$name" | grep -vx "$image" |
      xargs -r podman rmi >/dev/null 2>&1 || true
  fi
  printf '%s' "$image"
}

base_images() {
  step "base images (built once, cached)"
  base_debian
  # The build stage: the host's toolchain and registry. Its tag follows the
  # toolchain and Cargo.lock, so the registry it carries has every crate.
  local sysroot rust_version
  sysroot=$(rustc --print sysroot)
  rust_version=$(rustc --version | cut -d' ' -f2)
  cargo fetch --locked --quiet
  RUST_IMAGE=$(build_local rust "$rust_version-$(recipe_tag Cargo.lock "$here/rust.Containerfile")" "$here/rust.Containerfile" \
    -v "$sysroot:/mnt/toolchain:ro" -v "${CARGO_HOME:-$HOME/.cargo}/registry:/mnt/registry:ro")
  POSTGRES_IMAGE=$(build_local postgres "15-$(recipe_tag "$here"/postgres.*)" "$here/postgres.Containerfile")
  REDIS_IMAGE=$(build_local redis "7-$(recipe_tag "$here"/redis.*)" "$here/redis.Containerfile")
  PROMETHEUS_IMAGE=$(build_local prometheus "$(recipe_tag "$here/prometheus.Containerfile")" "$here/prometheus.Containerfile")
  ALERTMANAGER_IMAGE=$(build_local alertmanager "$(recipe_tag "$here/alertmanager.Containerfile")" "$here/alertmanager.Containerfile")
  if [[ $CC_CI_BUILD == quick ]]; then
    # The same build stage, with the release profile lightened (see the file).
    RUST_IMAGE=$(build_local rust-quick "$rust_version-$(recipe_tag Cargo.lock "$here"/rust*.Containerfile)" \
      "$here/rust-quick.Containerfile" --build-arg "RUST_IMAGE=$RUST_IMAGE")
  fi
  export RUST_IMAGE POSTGRES_IMAGE REDIS_IMAGE PROMETHEUS_IMAGE ALERTMANAGER_IMAGE
}

# --- 3. the project image ---------------------------------------------------------

IMAGE_BUILD_SECONDS=0
project_image() {
  step "project image $CC_IMAGE from deploy/Dockerfile"
  # CC_CI_REUSE_IMAGE=1: keep an existing image (for working on the proofs).
  if [[ ${CC_CI_REUSE_IMAGE:-} == 1 ]] && have_image "$CC_IMAGE"; then
    info "reusing the existing $CC_IMAGE (CC_CI_REUSE_IMAGE=1)"
    return
  fi
  local start cache=${CC_CI_CARGO_TARGET:-/var/cache/command-center-ci/target}
  mkdir -p "$cache"
  info "build stage $RUST_IMAGE; target/ kept in $cache"
  start=$(date +%s)
  # --format docker keeps the Dockerfile's HEALTHCHECK (OCI images have none).
  # The ignore file is the one BuildKit reads next to the Dockerfile. The
  # mount is not part of any layer: the binary leaves the build stage through
  # /out, as the Dockerfile says.
  podman build --format docker -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore \
    --build-arg "RUST_IMAGE=$RUST_IMAGE" --build-arg "RUNTIME_IMAGE=$BASE_IMAGE" \
    -v "$cache:/src/target" \
    -t "$CC_IMAGE" . >"$WORK/build-project.log" 2>&1 ||
    { tail -n 40 "$WORK/build-project.log" >&2; die "podman build -f deploy/Dockerfile failed (log: $WORK/build-project.log)"; }
  IMAGE_BUILD_SECONDS=$(($(date +%s) - start))
  info "built in ${IMAGE_BUILD_SECONDS}s ($(grep -c '^ *Compiling' "$WORK/build-project.log" || true) crates compiled)"
}

# --- 4. the stack -----------------------------------------------------------------

DC=()
HEALTH_PID=""
cleanup() {
  local rc=$?
  set +e
  if ((${#DC[@]})); then
    if ((rc != 0)); then
      echo "--- state of the stack at the failure:" >&2
      podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --format '{{.Names}}  {{.Status}}' >&2
      # The last lines each of our containers logged (they are gone after the teardown).
      local c
      for c in $(podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --format '{{.Names}}' | grep -E '_(migrate|api|worker)_'); do
        echo "--- the last log lines of $c:" >&2
        podman logs --tail 15 "$c" 2>&1 | cut -c1-400 >&2
      done
    fi
    "${DC[@]}" --profile monitoring down -v --remove-orphans -t 5 >"$WORK/down.log" 2>&1
  fi
  podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman rm -f >/dev/null 2>&1
  podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null 2>&1
  [[ -n $HEALTH_PID ]] && kill "$HEALTH_PID" 2>/dev/null
  [[ -n $SERVICE_PID ]] && kill "$SERVICE_PID" 2>/dev/null
  ((rc == 0)) && step "all container proofs passed ($(($(date +%s) - T0))s in all)"
  exit "$rc"
}

# podman 4.3 runs health checks from systemd timers; without systemd (as
# here) nothing would run them, so this loop is the timer: every 5 s (the
# shortest interval in the compose file) it runs the check of each running
# container of the project that has one. podman keeps the streak and start
# period itself.
health_driver() {
  while true; do
    podman ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter status=running |
      while read -r id; do
        # </dev/null: podman would otherwise read the ids still in the pipe.
        podman healthcheck run "$id" </dev/null >/dev/null 2>&1 || true
      done
    sleep 5
  done
}

containers() { # containers SERVICE: ids of the service's containers (running or not)
  podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"
}
running() { podman ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
health() { podman inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null; }

# all_healthy SERVICE N: exactly N running containers of SERVICE, all healthy.
all_healthy() {
  local ids n=0 id
  ids=$(running "$1")
  for id in $ids; do
    [[ $(health "$id") == healthy ]] || return 1
    n=$((n + 1))
  done
  ((n == $2))
}

psql_stack() { # SQL on stdin, tuples only
  podman exec -i "$(running postgres | sed -n 1p)" psql -X -q -t -A -v ON_ERROR_STOP=1 -U command_center -d command_center "$@"
}

sql_value() { printf '%s\n' "$1" | psql_stack 2>/dev/null | tr -d '[:space:]'; }

stack_env() {
  # deploy/.env.example with the test's project and image names and the
  # ports moved off the usual ones (other servers run on this machine).
  # CC_HTTP_PORTS=0: podman cannot publish a host port range on one container
  # port ("8080-8089:8080" fails), so each API replica gets an ephemeral port.
  sed -e "s/^COMPOSE_PROJECT_NAME=.*/COMPOSE_PROJECT_NAME=$PROJECT/" \
    -e "s|^CC_IMAGE=.*|CC_IMAGE=$CC_IMAGE|" \
    -e "s/^CC_HTTP_PORTS=.*/CC_HTTP_PORTS=0/" \
    -e 's/^PROMETHEUS_PORT=.*/PROMETHEUS_PORT=19090/' \
    -e 's/^ALERTMANAGER_PORT=.*/ALERTMANAGER_PORT=19093/' \
    -e 's/^GRAFANA_PORT=.*/GRAFANA_PORT=13000/' \
    deploy/.env.example >"$WORK/ci.env"
  export CC_CI_POSTGRES_IMAGE=$POSTGRES_IMAGE CC_CI_REDIS_IMAGE=$REDIS_IMAGE \
    CC_CI_PROMETHEUS_IMAGE=$PROMETHEUS_IMAGE CC_CI_ALERTMANAGER_IMAGE=$ALERTMANAGER_IMAGE
  # --compatibility: docker-compose 1.29 applies deploy.replicas and the
  # resource limits only with it (deploy/README.md).
  DC=(docker-compose --compatibility --project-directory "$root/deploy" -p "$PROJECT" --env-file "$WORK/ci.env"
    -f "$root/deploy/docker-compose.yml" -f "$here/docker-compose.podman.yml")
}

CORE=(postgres redis migrate api worker)
COLD_UP=0
WARM_UP=0

# up_core LABEL: `up -d` of the core services, timed until api and both
# workers are healthy.
up_core() {
  local start
  start=$(date +%s)
  "${DC[@]}" up -d "${CORE[@]}" >"$WORK/up-$1.log" 2>&1 ||
    { cat "$WORK/up-$1.log" >&2; die "docker-compose up ($1) failed"; }
  wait_for "api healthy" 240 all_healthy api 1
  wait_for "2 workers healthy" 240 all_healthy worker 2
  printf '%s' $(($(date +%s) - start)) >"$WORK/up-$1.seconds"
}

stack_up() {
  step "stack: deploy/docker-compose.yml + scripts/container/docker-compose.podman.yml"
  deploy/gen-secrets.sh >/dev/null
  stack_env
  # Leftovers of an interrupted run.
  "${DC[@]}" --profile monitoring down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
  health_driver &
  HEALTH_PID=$!
  step "up: core services (fresh volumes)"
  up_core cold
  COLD_UP=$(cat "$WORK/up-cold.seconds")
  info "start to healthy: ${COLD_UP}s"
}

# --- 5. proofs --------------------------------------------------------------------

prove_migrate_once() {
  step "proof: migrate ran once and exited 0"
  local ids n code
  ids=$(containers migrate)
  n=$(wc -w <<<"$ids")
  ((n == 1)) || die "expected one migrate container, found $n"
  [[ $(podman inspect --format '{{.State.Status}}' "$ids") == exited ]] || die "migrate is still running"
  code=$(podman inspect --format '{{.State.ExitCode}}' "$ids")
  ((code == 0)) || die "migrate exited $code: $(podman logs "$ids" 2>&1 | tail -n 5)"
  [[ $(podman inspect --format '{{.RestartCount}}' "$ids") == 0 ]] || die "migrate was restarted"
  local applied
  applied=$(sql_value 'SELECT count(*) FROM _sqlx_migrations WHERE success')
  ((applied > 0)) || die "no migration recorded as applied"
  info "one migrate container, exit 0, $applied migrations applied"
}

prove_image() {
  step "proof: image user, read-only root file system, size"
  local user size id svc ro want
  user=$(podman image inspect --format '{{.Config.User}}' "$CC_IMAGE")
  [[ $user == 10001:10001 ]] || die "image user is '$user', expected 10001:10001"
  size=$(podman image inspect --format '{{.Size}}' "$CC_IMAGE")
  IMAGE_MB=$((size / 1000000))
  info "image $CC_IMAGE: user $user, $IMAGE_MB MB (uncompressed; binary $(podman run --rm --entrypoint /bin/sh "$CC_IMAGE" -c 'du -m /usr/local/bin/command-center | cut -f1') MB)"
  # What the compose file says, per service, against what runs.
  local config
  config=$("${DC[@]}" config 2>/dev/null)
  for svc in migrate api worker postgres redis; do
    want=$(printf '%s\n' "$config" | python3 -c "import sys,yaml; print(str(bool(yaml.safe_load(sys.stdin)['services']['$svc'].get('read_only', False))).lower())")
    for id in $(containers "$svc"); do
      ro=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$id")
      [[ $ro == "$want" ]] || die "$svc: read-only root file system is $ro, the compose file says $want"
    done
    info "$svc: read_only $want (as the compose file says)"
  done
  for svc in api worker; do
    for id in $(running "$svc"); do
      [[ $(podman exec "$id" id -u) == 10001 ]] || die "$svc runs as uid $(podman exec "$id" id -u), not 10001"
      if podman exec "$id" sh -c 'echo x >/probe' 2>/dev/null; then
        die "$svc: the root file system is writable"
      fi
      podman exec "$id" sh -c 'echo x >/tmp/probe && rm /tmp/probe' || die "$svc: /tmp is not writable"
    done
    info "$svc: uid 10001, / not writable, /tmp writable"
  done
}

api_port() { # api_port CONTAINER: host port of its 8080
  podman port "$1" 8080/tcp | sed -n 1p | sed 's/.*://'
}

TOKEN=""
ACCESS=""
login() {
  step "an operator API token (admin login, POST /api/v1/tokens)"
  local port body
  port=$(api_port "$(running api | sed -n 1p)")
  body=$(jq -n --rawfile p deploy/secrets/bootstrap_admin_password '{username: "admin", password: $p}')
  ACCESS=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    --data-binary @- <<<"$body" | jq -r .access_token) || die "admin login failed"
  [[ -n $ACCESS && $ACCESS != null ]] || die "admin login returned no access token"
  TOKEN=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/tokens" -H 'content-type: application/json' \
    -H @- -d '{"name": "container-test", "role": "operator", "expires_in_days": 1}' \
    <<<"authorization: Bearer $ACCESS" | jq -r '.secret // empty') || die "creating an API token failed"
  [[ -n $TOKEN ]] || die "POST /api/v1/tokens returned no secret"
  info "token created"
}

monitoring_up() {
  step "monitoring: prometheus + alertmanager (Grafana, Loki, promtail: not run here, no local image)"
  "${DC[@]}" --profile monitoring up -d --no-deps alertmanager prometheus >"$WORK/up-monitoring.log" 2>&1 ||
    { cat "$WORK/up-monitoring.log" >&2; die "docker-compose up prometheus alertmanager failed"; }
  wait_for "alertmanager healthy" 180 all_healthy alertmanager 1
  wait_for "prometheus healthy" 180 all_healthy prometheus 1
}

prom() { # prom QUERY: Prometheus instant query result (JSON) via the published port
  curl -sf -G "http://127.0.0.1:19090/api/v1/query" --data-urlencode "query=$1"
}
targets_up() { # targets_up JOB N: N targets of JOB, all up
  local v
  v=$(prom "up{job=\"$1\"}") || return 1
  [[ $(jq '[.data.result[] | select(.value[1] == "1")] | length' <<<"$v") == "$2" &&
    $(jq '.data.result | length' <<<"$v") == "$2" ]]
}

prove_check() {
  step "proof: command-center check against the stack"
  wait_for "prometheus scrapes the api replica" 120 targets_up command-center-api 1
  wait_for "prometheus scrapes both workers" 120 targets_up command-center-worker 2
  local id out
  id=$(running api | sed -n 1p)
  # The token goes in on stdin, so it is in no command line and no container config.
  if ! out=$(podman exec -i "$id" sh -c 'read -r CC_TOKEN; export CC_TOKEN; exec command-center check --url http://127.0.0.1:8080 --prometheus-url http://prometheus:9090 --timeout 20' <<<"$TOKEN" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    die "command-center check failed"
  fi
  printf '%s\n' "$out" | sed 's/^/    /'
  grep -Eq '^grafana +skip' <<<"$out" || die "check: grafana row is not the expected skip"
  grep -Eq '^prometheus +PASS' <<<"$out" || die "check: prometheus row did not pass"
  info "grafana skipped: Grafana cannot run on these machines (no local image)"
  # Alertmanager: `check` has no row for it; Prometheus must have found it
  # and loaded the alert rules.
  local am rules
  am=$(curl -sf http://127.0.0.1:19090/api/v1/alertmanagers | jq '.data.activeAlertmanagers | length')
  ((am == 1)) || die "prometheus knows $am active alertmanagers, expected 1"
  rules=$(curl -sf http://127.0.0.1:19090/api/v1/rules | jq '[.data.groups[].rules[]] | length')
  ((rules > 0)) || die "prometheus loaded no alert rules"
  curl -sf http://127.0.0.1:19093/-/ready >/dev/null || die "alertmanager not ready on its published port"
  info "alertmanager: ready, the active alertmanager of prometheus; $rules alert rules loaded"
}

REQUEST_IDS=()
prove_scale() {
  step "proof: --scale api=2 --scale worker=3"
  "${DC[@]}" up -d --no-deps --scale api=2 --scale worker=3 api worker >"$WORK/up-scale.log" 2>&1 ||
    { cat "$WORK/up-scale.log" >&2; die "docker-compose up --scale failed"; }
  wait_for "2 api replicas healthy" 240 all_healthy api 2
  wait_for "3 workers healthy" 240 all_healthy worker 3
  local id port rid code name echoed
  for id in $(running api); do
    name=$(podman inspect --format '{{.Name}}' "$id")
    port=$(api_port "$id")
    [[ -n $port ]] || die "api container $name publishes no port"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H @- "http://127.0.0.1:$port/api/v1/jobs" <<<"authorization: Bearer $TOKEN")
    [[ $code == 200 ]] || die "GET /api/v1/jobs through replica $name (port $port): HTTP $code"
    # A request the operator token may not make (listing API tokens is for
    # admins) is logged at info with its request id: that replica's own log
    # must have it, so the request went through that replica.
    rid=ci-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echoed=$(curl -s -o /dev/null -D - -H @- -H "x-request-id: $rid" "http://127.0.0.1:$port/api/v1/tokens" \
      <<<"authorization: Bearer $TOKEN" | tr -d '\r' | sed -n 's/^x-request-id: //Ip')
    [[ $echoed == "$rid" ]] || die "replica $name did not answer with request id $rid (got '$echoed')"
    wait_for "replica $name (host port $port): GET /api/v1/jobs 200, request $rid in its own log" 30 \
      sh -c "podman logs $id 2>&1 | grep -q '$rid'"
    REQUEST_IDS+=("$id:$rid")
  done
  wait_for "prometheus scrapes both api replicas" 120 targets_up command-center-api 2
  wait_for "prometheus scrapes all 3 workers" 120 targets_up command-center-worker 3
}

jobs_done() { # jobs_done RUN: true when every job of the run is final
  [[ $(sql_value "SELECT count(*) FROM jobs WHERE args->>'ci_run' = '$1' AND state NOT IN ('completed','cancelled','discarded')") == 0 ]]
}
completed() { sql_value "SELECT count(*) FROM jobs WHERE args->>'ci_run' = '$1' AND state = 'completed'"; }
wait_completed() { # wait_completed RUN N
  local c
  c=$(completed "$1")
  [[ -n $c ]] && ((c >= $2))
}

INTERRUPTED=() # ids of the jobs the kills interrupted
# in_flight CONTAINER: ids of the system.sleep jobs of this run the worker in
# CONTAINER is running now: the newest worker registered from the container's
# hostname (a killed one keeps its jobs as running until their lease expires),
# leaving out those a kill already interrupted.
in_flight() {
  sql_value "SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs WHERE args->>'ci_run' = '$RUN' AND kind = 'system.sleep' AND state = 'running' AND worker_id = (SELECT id FROM job_workers WHERE hostname = '$(podman inspect --format '{{.Config.Hostname}}' "$1")' ORDER BY started_at DESC LIMIT 1) AND id NOT IN ($(IFS=,; echo "${INTERRUPTED[*]:-0}"))"
}
has_in_flight() { [[ -n $(in_flight "$1") ]]; }
kill_worker() { # kill_worker CONTAINER N: SIGKILL from the host to its PID 1, mid-job
  local id=$1 before pid jobs
  before=$(podman inspect --format '{{.RestartCount}}' "$id")
  wait_for "worker $(podman inspect --format '{{.Name}}' "$id") is running a sleep job" 120 has_in_flight "$id"
  jobs=$(in_flight "$id")
  pid=$(podman inspect --format '{{.State.Pid}}' "$id")
  ((pid > 1)) || die "worker $id has no process"
  kill -9 "$pid"
  # Interrupted: those still running after the kill (one may have finished
  # between the query and the kill); no other process can hold them.
  local after j hit=()
  after=",$(sql_value "SELECT string_agg(id::text, ',') FROM jobs WHERE id IN ($jobs) AND state = 'running'"),"
  for j in ${jobs//,/ }; do [[ $after == *",$j,"* ]] && hit+=("$j"); done
  info "kill -9 worker $(podman inspect --format '{{.Name}}' "$id") (#$2, $(completed "$RUN") jobs completed so far) while it ran sleep jobs ${hit[*]:-(none left)}"
  INTERRUPTED+=("${hit[@]}")
  wait_for "restart policy brought it back" 120 \
    sh -c "[ \"\$(podman inspect --format '{{.RestartCount}} {{.State.Status}}' $id)\" = \"$((before + 1)) running\" ]"
}

prove_chaos() {
  step "proof: chaos: $JOBS jobs; kill -9 a worker twice; restart postgres"
  RUN=$(date +%s)-$$
  # One INSERT of the jobs (and their first history rows, as the store
  # writes them), then the wake-up the store sends on commit. Their run_at
  # is spread over SPREAD_SECONDS, so the kills and the restart below happen
  # while most jobs are still to run (the workers finish 10,000 immediate
  # no-op jobs in a few seconds). Every 20th is a system.sleep of 2 s, so a
  # kill lands while the worker runs some (kill_worker waits for one): those
  # must be rescued when their lease expires and completed once, elsewhere.
  psql_stack >/dev/null <<SQL || die "enqueueing $JOBS jobs failed"
BEGIN;
WITH j AS (
  INSERT INTO jobs (queue, kind, args, priority, state, max_attempts, run_at, created_by, created_at)
  SELECT 'default', CASE WHEN n % 20 = 0 THEN 'system.sleep' ELSE 'system.noop' END,
         jsonb_build_object('ci_run', '$RUN', 'n', n, 'ms', 2000), 0, 'scheduled', 5,
         now() + make_interval(secs => n * $SPREAD_SECONDS.0 / $JOBS), 'container-test', now()
  FROM generate_series(1, $JOBS) AS n
  RETURNING id)
INSERT INTO job_events (job_id, at, state, attempt) SELECT id, now(), 'scheduled', 0 FROM j;
NOTIFY cc_jobs, 'default';
COMMIT;
SQL
  info "$JOBS jobs enqueued ($((JOBS / 20)) system.sleep of 2 s, the rest system.noop)"
  local victim
  victim=$(running worker | sed -n 1p)
  wait_for "10% completed" 300 wait_completed "$RUN" $((JOBS / 10))
  kill_worker "$victim" 1
  wait_for "30% completed" 300 wait_completed "$RUN" $((JOBS * 3 / 10))
  kill_worker "$victim" 2
  wait_for "50% completed" 300 wait_completed "$RUN" $((JOBS / 2))
  info "restarting postgres ($(completed "$RUN") jobs completed so far)"
  "${DC[@]}" restart -t 10 postgres >"$WORK/restart-postgres.log" 2>&1 || die "restarting postgres failed"
  wait_for "postgres healthy again" 120 all_healthy postgres 1
  wait_for "every job final" 600 jobs_done "$RUN"
  local total done once dup attempts
  total=$(sql_value "SELECT count(*) FROM jobs WHERE args->>'ci_run' = '$RUN'")
  done=$(completed "$RUN")
  ((total == JOBS)) || die "$total jobs in the table, expected $JOBS"
  ((done == JOBS)) || die "$done of $JOBS jobs completed: $(sql_value "SELECT string_agg(state || '=' || c, ',') FROM (SELECT state, count(*) c FROM jobs WHERE args->>'ci_run' = '$RUN' GROUP BY state) s")"
  once=$(sql_value "SELECT count(*) FROM (SELECT e.job_id FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.args->>'ci_run' = '$RUN' AND e.state = 'completed' GROUP BY e.job_id HAVING count(*) = 1) s")
  dup=$(sql_value "SELECT count(*) FROM (SELECT e.job_id FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.args->>'ci_run' = '$RUN' AND e.state = 'completed' GROUP BY e.job_id HAVING count(*) > 1) s")
  ((once == JOBS && dup == 0)) || die "completion recorded once for $once jobs, more than once for $dup"
  attempts=$(sql_value "SELECT count(*) FROM jobs WHERE args->>'ci_run' = '$RUN' AND attempt > 1")
  # The jobs the kills interrupted ran again (a later attempt) and completed once.
  local interrupted=${#INTERRUPTED[@]} rerun ids
  ((interrupted > 0)) || die "no job was running on the killed worker"
  ids=$(IFS=,; echo "${INTERRUPTED[*]}")
  rerun=$(sql_value "SELECT count(*) FROM jobs WHERE id IN ($ids) AND state = 'completed' AND attempt > 1")
  ((rerun == interrupted)) || die "of the $interrupted jobs the kills interrupted, $rerun were completed by a later attempt"
  info "all $JOBS completed, each completion recorded exactly once; the $interrupted sleep jobs the kills interrupted were rescued and completed on a later attempt ($attempts jobs in all ran more than once)"
  wait_for "both api replicas healthy after the chaos" 180 all_healthy api 2
  wait_for "all 3 workers healthy after the chaos" 180 all_healthy worker 3
}

prove_logs() {
  step "proof: logs are JSON lines with request ids"
  local svc id lines bad
  for svc in migrate api worker; do
    for id in $(containers "$svc"); do
      lines=$(podman logs "$id" 2>&1 | grep -c . || true)
      bad=$(podman logs "$id" 2>&1 | grep . | jq -R 'fromjson? | objects | 1' | wc -l)
      ((lines > 0)) || die "$svc $id logged nothing"
      if ((bad != lines)); then
        # The offending lines (at most five, cut at 300 characters), so a failure says what
        # was printed.
        podman logs "$id" 2>&1 | grep . |
          jq -R -r 'if (try (fromjson | type) catch "text") == "object" then empty else .[:300] end' |
          sed -n '1,5s/^/      | /p' >&2
        die "$svc $id: $((lines - bad)) of $lines log lines are not JSON objects (shown above)"
      fi
    done
    info "$svc: every line is a JSON object"
  done
  local pair with
  for pair in "${REQUEST_IDS[@]}"; do
    id=${pair%%:*}
    with=$(podman logs "$id" 2>&1 | jq -R -c "fromjson? | select(tostring | contains(\"${pair#*:}\"))" | sed -n 1p)
    [[ -n $with ]] || die "no JSON log line of $id carries request id ${pair#*:}"
  done
  with=$(for id in $(containers api); do podman logs "$id" 2>&1; done | jq -R -c 'fromjson? | select(.. | objects | has("request_id"))' 2>/dev/null | wc -l)
  ((with > 0)) || die "no api log line has a request_id field"
  info "api: $with lines carry a request_id; each scale probe's request id is in its replica's log"
}

prove_secrets() {
  step "proof: no password or token in podman inspect or any log line"
  local secrets=() f s id hits=0 name
  for f in postgres_password database_url bootstrap_admin_password metrics_token master_key; do
    secrets+=("$(cat "deploy/secrets/$f")")
  done
  secrets+=("$TOKEN" "$ACCESS")
  local all
  all=$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT")
  for id in $all; do
    name=$(podman inspect --format '{{.Name}}' "$id")
    podman inspect "$id" >"$WORK/inspect.json"
    podman logs "$id" >"$WORK/logs.txt" 2>&1
    for s in "${secrets[@]}"; do
      [[ -n $s ]] || continue
      if grep -qF -- "$s" "$WORK/inspect.json"; then
        echo "    a secret appears in podman inspect $name" >&2
        hits=$((hits + 1))
      fi
      if grep -qF -- "$s" "$WORK/logs.txt"; then
        echo "    a secret appears in the log of $name" >&2
        hits=$((hits + 1))
      fi
    done
  done
  rm -f "$WORK/inspect.json" "$WORK/logs.txt"
  ((hits == 0)) || die "$hits secret leaks (values not printed)"
  info "${#secrets[@]} secret values, $(wc -w <<<"$all") containers: none in inspect output (environment included) or logs"
}

warm_restart() {
  step "warm start: down (volumes kept) and up again"
  "${DC[@]}" --profile monitoring down -t 20 >"$WORK/down-warm.log" 2>&1 || die "docker-compose down failed"
  up_core warm
  WARM_UP=$(cat "$WORK/up-warm.seconds")
  info "start to healthy: ${WARM_UP}s"
}

engine
base_images
[[ $MODE == base ]] && exit 0
if [[ $MODE == images ]]; then
  project_image
  exit 0
fi
start_service
trap cleanup EXIT
project_image
stack_up
prove_migrate_once
prove_image
login
monitoring_up
prove_check
prove_scale
prove_chaos
prove_logs
prove_secrets
warm_restart
step "summary"
info "project image build: ${IMAGE_BUILD_SECONDS}s; image size: ${IMAGE_MB} MB"
info "core stack start to healthy: ${COLD_UP}s with fresh volumes, ${WARM_UP}s with existing ones"
