#!/usr/bin/env bash
# Validate the deployment files in deploy/ with the real tools.
#
#   scripts/check-deploy.sh                 run every check, stop at the first failure
#   scripts/check-deploy.sh --list-metrics  print the application metric names used by
#                                           the dashboard and the alert rules, one a line
#
# Tools come from Debian's packages and are installed with apt-get when
# missing (as root, or through sudo): promtool (package prometheus), amtool
# (prometheus-alertmanager), Compose (the `docker compose` plugin when present,
# else docker-compose v1), python3 with PyYAML (python3-yaml). No Docker engine
# is needed: `compose config` only reads files. hadolint and cargo are used
# when they are installed, and skipped otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

DEPLOY=deploy
RULES_DIR=$DEPLOY/prometheus/rules
TESTS_DIR=$DEPLOY/prometheus/tests
DASHBOARD=$DEPLOY/grafana/dashboards/command-center.json

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

# Run a command; on failure show its output and stop. On success show its
# last line (tools print their verdict there), indented.
run() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    die "$*"
  fi
  printf '%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 1 | sed 's/^[[:space:]]*/    /'
}

# --- tool installation ---------------------------------------------------------

apt_updated=false
apt_install() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root or sudo to install: $*"
    sudo="sudo"
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
  info "installing $* (apt-get)"
  # Try with the package lists as they are; refresh them only if that fails.
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    if [[ $apt_updated == false ]]; then
      $sudo apt-get update -qq >/dev/null 2>&1 || true
      apt_updated=true
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
      die "apt-get install $* failed"
  fi
}

need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

# A python3 that can import yaml: the one on PATH, else Debian's (which is the
# one python3-yaml installs into).
PYTHON=""
find_python() {
  local p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then
      PYTHON=$p
      return
    fi
  done
  apt_install python3 python3-yaml
  /usr/bin/python3 -c 'import yaml' 2>/dev/null || die "python3-yaml is not importable"
  PYTHON=/usr/bin/python3
}

COMPOSE=()
find_compose() {
  if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  else
    need docker-compose docker-compose
    COMPOSE=(docker-compose)
  fi
}

# --- analysis helpers (python) -----------------------------------------------------

# All structural checks and PromQL handling live in this one helper; each
# subcommand prints problems to stderr and exits non-zero on the first set.
cat >"$tmp/helper.py" <<'PY'
import json, os, re, sys, glob
import yaml

ROOT = os.getcwd()
DEPLOY = "deploy"
RULES = sorted(glob.glob(f"{DEPLOY}/prometheus/rules/*.yml"))
TESTS = sorted(glob.glob(f"{DEPLOY}/prometheus/tests/*.yml"))
DASHBOARD = f"{DEPLOY}/grafana/dashboards/command-center.json"

# Metric names the binary exposes (the interface contract). The dashboard and
# the rules may only use these, so a typo fails here rather than as an empty
# panel. Histograms are listed by their base name.
CONTRACT = """
cc_http_requests_total cc_http_request_duration_seconds cc_http_requests_in_flight
cc_jobs cc_queue_depth cc_queue_oldest_available_age_seconds cc_job_duration_seconds
cc_job_executions_total cc_job_retries_total cc_jobs_discarded_total cc_workers_active
cc_db_pool_connections cc_db_pool_max_connections cc_db_pool_acquire_duration_seconds cc_db_ready
cc_lifecycle_operations_total cc_login_lockouts_total cc_import_rows_total cc_directory_users cc_directory_devices
cc_target_up cc_jobs_unhandled cc_users_sync cc_cloudflare_certificate_expiry_timestamp_seconds
cc_notifications_sent_total cc_backup_newest_timestamp_seconds
cc_build_info process_resident_memory_bytes process_cpu_seconds_total process_open_fds
process_start_time_seconds
""".split()

# Series that come from Prometheus itself or from exporters, not from the app.
BUILTIN = re.compile(r"^(up|ALERTS|ALERTS_FOR_STATE|scrape_\w+|node_\w+|container_\w+|machine_\w+|"
                     r"cadvisor_\w+|prometheus_\w+|alertmanager_\w+|go_\w+|loki_\w+|promtail_\w+|grafana_\w+)$")

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "offset", "inf", "nan", "atan2"}

def fail(msgs):
    for m in msgs:
        print(f"    {m}", file=sys.stderr)
    sys.exit(1)

def grafana_to_promql(expr):
    """Replace Grafana's variables with concrete values so promtool can parse."""
    for var, val in (("__rate_interval", "1m"), ("__interval", "1m"), ("__range", "1h"),
                     ("__range_s", "3600"), ("__interval_ms", "60000")):
        expr = expr.replace("${%s}" % var, val)
        expr = re.sub(r"\$%s\b" % var, val, expr)
    # Any other template variable is a label value or regex: match anything.
    expr = re.sub(r"\$\{[^}]+\}", ".*", expr)
    expr = re.sub(r"\[\[[^\]]+\]\]", ".*", expr)
    expr = re.sub(r"\$[A-Za-z_]\w*", ".*", expr)
    return expr

def metric_names(expr):
    """Metric names selected by a PromQL expression (lexical, no full parser)."""
    e = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", "{}", e)                      # label matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\[[^\]]*\]", "", e)                       # ranges, subqueries
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)", e):
        name = m.group(1)
        rest = e[m.end():].lstrip()
        if rest.startswith("("):                             # function or aggregation
            continue
        if name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names

def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)

def panels(d):
    for p in d.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q

def ds_uid(obj):
    ds = obj.get("datasource")
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds

def dashboard_promql(d):
    """(panel title, expr) for every Prometheus query of the dashboard."""
    out = []
    for p in panels(d):
        for t in p.get("targets", []) or []:
            uid = ds_uid(t) or ds_uid(p)
            if uid == "prometheus" and t.get("expr"):
                out.append((p.get("title", "?"), t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query" and ds_uid(v) == "prometheus":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q or "")
            if m:
                out.append((f"variable {v['name']}", m.group(1)))
    return out

def rules():
    out = []
    for path in RULES:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for g in doc.get("groups", []):
            for r in g.get("rules", []):
                out.append((path, r))
    return out

def used_metrics():
    names = set()
    for _, expr in dashboard_promql(dashboard()):
        names |= metric_names(grafana_to_promql(expr))
    for _, r in rules():
        names |= metric_names(r["expr"])
    return {n for n in names if not BUILTIN.match(n)}

def base_name(n):
    return re.sub(r"_(bucket|sum|count)$", "", n) if n not in CONTRACT else n

# --- subcommands -------------------------------------------------------------------

def cmd_targets():
    """package:target:kinds of every target in `cargo metadata` JSON on stdin."""
    meta = json.load(sys.stdin)
    for line in sorted(f"{p['name']}:{t['name']}:{','.join(t['kind'])}"
                       for p in meta["packages"] for t in p["targets"]):
        print(line)

def cmd_list_metrics():
    for n in sorted(used_metrics()):
        print(n)

def cmd_contract():
    bad = sorted(n for n in used_metrics() if base_name(n) not in CONTRACT)
    if bad:
        fail([f"not a metric the binary exposes: {n}" for n in bad])
    print(f"{len(used_metrics())} application metric names, all in the contract")

def cmd_dashboard(out_rules):
    d = dashboard()
    errs = []
    ps = [p for p in panels(d) if p.get("type") != "row"]
    if d.get("refresh") != "5s":
        errs.append(f"refresh is {d.get('refresh')!r}, expected '5s'")
    if len(ps) < 12:
        errs.append(f"{len(ps)} panels, expected at least 12")
    if not d.get("uid"):
        errs.append("dashboard has no uid")
    names = [v.get("name") for v in d.get("templating", {}).get("list", [])]
    if "instance" not in names:
        errs.append("no template variable 'instance'")
    ids = [p.get("id") for p in panels(d)]
    if len(ids) != len(set(ids)):
        errs.append("duplicate panel ids")
    for p in ps:
        uid = ds_uid(p) or next((ds_uid(t) for t in p.get("targets", []) if ds_uid(t)), None)
        if uid not in ("prometheus", "loki"):
            errs.append(f"panel {p.get('title')!r}: datasource uid {uid!r} is not prometheus or loki")
        if not p.get("targets"):
            errs.append(f"panel {p.get('title')!r} has no query")
        gp = p.get("gridPos", {})
        if gp.get("x", 0) + gp.get("w", 0) > 24:
            errs.append(f"panel {p.get('title')!r} is wider than the grid")
    if not any(p.get("type") == "logs" and ds_uid(p) == "loki" for p in ps):
        errs.append("no Loki logs panel")
    if errs:
        fail(errs)
    exprs = dashboard_promql(d)
    # promtool has no offline "parse this query"; a recording rule's expr is
    # parsed and type-checked by `promtool check rules`, which is the same thing.
    group = {"name": "dashboard-queries", "rules": [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(e),
         "labels": {"panel": title}} for i, (title, e) in enumerate(exprs)]}
    with open(out_rules, "w") as f:
        yaml.safe_dump({"groups": [group]}, f, sort_keys=False, width=1000)
    print(f"{len(ps)} panels, refresh {d['refresh']}, {len(exprs)} PromQL queries written for promtool")

def cmd_rules():
    errs = []
    alerts = {}
    for path, r in rules():
        if "alert" not in r:
            continue
        name = r["alert"]
        alerts.setdefault(name, []).append(r)
        where = f"{path}: {name}"
        if not r.get("for"):
            errs.append(f"{where}: no 'for'")
        if r.get("labels", {}).get("severity") not in ("warning", "critical"):
            errs.append(f"{where}: severity must be warning or critical")
        ann = r.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                errs.append(f"{where}: no {key} annotation")
        rb = ann.get("runbook_url", "")
        if rb and rb != f"docs/operations.md#{name.lower()}":
            errs.append(f"{where}: runbook_url should be docs/operations.md#{name.lower()}")
    required = {"InstanceDown", "High5xxRatio", "HighP99Latency", "QueueBacklogOld",
                "DiscardedJobsRising", "DatabaseNotReady", "NoncompliantDevicesRising", "WorkersMissing"}
    for name in sorted(required - alerts.keys()):
        errs.append(f"missing alert {name}")
    firing, quiet = set(), set()
    for path in TESTS:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for t in doc.get("tests", []):
            for a in t.get("alert_rule_test", []) or []:
                (firing if a.get("exp_alerts") else quiet).add(a["alertname"])
    for name in sorted(alerts):
        if name not in firing:
            errs.append(f"{name}: no unit test where it fires")
        if name not in quiet:
            errs.append(f"{name}: no unit test where it stays quiet")
    if errs:
        fail(errs)
    n = sum(len(v) for v in alerts.values())
    print(f"{len(alerts)} alerts ({n} rules): for, severity, summary, description, runbook_url set; "
          f"each tested firing and quiet")

def cmd_compose(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    errs = []
    one_shot = {"migrate", "pg-backup"}
    scalable = {"api", "worker"}
    volumes = set((doc.get("volumes") or {}).keys())
    secrets = doc.get("secrets") or {}
    for sec, spec in secrets.items():
        if not str((spec or {}).get("file", "")).startswith("./secrets/"):
            errs.append(f"secret {sec}: expected file: ./secrets/{sec}")
    for name, s in doc["services"].items():
        w = f"service {name}"
        mounted = {x if isinstance(x, str) else x.get("source") for x in s.get("secrets") or []}
        for sec in sorted(mounted - secrets.keys()):
            errs.append(f"{w}: secret {sec} is not defined under top-level secrets")
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        for var, val in env.items():
            m = re.fullmatch(r"/run/secrets/([\w.-]+)", str(val))
            if var.endswith("_FILE") and m and m.group(1) not in mounted:
                errs.append(f"{w}: {var} points at secret {m.group(1)}, which the service does not mount")
            if re.search(r"PASSWORD$|TOKEN$|DATABASE_URL$", var) and not var.endswith("_FILE"):
                errs.append(f"{w}: {var} is set as plain environment; use {var}_FILE and a secret")
        hc = s.get("healthcheck")
        if not hc:
            errs.append(f"{w}: no healthcheck")
        elif hc.get("disable") and name not in one_shot:
            errs.append(f"{w}: healthcheck disabled on a long-running service")
        want = "no" if name in one_shot else "unless-stopped"
        if str(s.get("restart")) != want:
            errs.append(f"{w}: restart is {s.get('restart')!r}, expected {want!r}")
        res = (s.get("deploy") or {}).get("resources") or {}
        for kind in ("limits", "reservations"):
            if not {"cpus", "memory"} <= set((res.get(kind) or {}).keys()):
                errs.append(f"{w}: deploy.resources.{kind} needs cpus and memory")
        lg = s.get("logging") or {}
        if lg.get("driver") != "json-file" or not {"max-size", "max-file"} <= set((lg.get("options") or {}).keys()):
            errs.append(f"{w}: logging must be json-file with max-size and max-file")
        if name in scalable and "container_name" in s:
            errs.append(f"{w}: container_name prevents scaling")
        for dep, cond in (s.get("depends_on") or {}).items() if isinstance(s.get("depends_on"), dict) else []:
            c = cond.get("condition")
            if c not in ("service_healthy", "service_completed_successfully"):
                errs.append(f"{w}: depends_on {dep} has condition {c!r}")
        if isinstance(s.get("depends_on"), list):
            errs.append(f"{w}: depends_on must name a condition")
        for v in s.get("volumes") or []:
            if isinstance(v, str):
                spec = v
                parts = v.split(":")
                src = parts[0]
                ro = len(parts) > 2 and "ro" in parts[2].split(",")
            else:
                spec, src, ro = str(v), str(v.get("source")), bool(v.get("read_only"))
            if src in volumes:
                continue
            if src.startswith("./") and ro:
                continue                      # read-only config from deploy/
            if src == "/var/run/docker.sock" and ro:
                continue                      # container discovery (promtail, cadvisor)
            errs.append(f"{w}: volume {spec!r} is neither a named volume nor a read-only config/socket mount")
    if errs:
        fail(errs)
    print(f"{len(doc['services'])} services: healthchecks, restart policies, limits/reservations, "
          f"rotated logs, named volumes only")

def cmd_configs():
    errs = []
    with open(f"{DEPLOY}/grafana/provisioning/datasources/datasources.yml") as f:
        ds = yaml.safe_load(f)
    uids = {d.get("uid"): d.get("type") for d in ds.get("datasources", [])}
    for uid, typ in (("prometheus", "prometheus"), ("loki", "loki")):
        if uids.get(uid) != typ:
            errs.append(f"datasources.yml: no {typ} datasource with uid {uid!r}")
    with open(f"{DEPLOY}/grafana/provisioning/dashboards/dashboards.yml") as f:
        dp = yaml.safe_load(f)
    if not any(p.get("options", {}).get("path") for p in dp.get("providers", [])):
        errs.append("dashboards.yml: no file provider path")
    with open(f"{DEPLOY}/loki/loki.yml") as f:
        loki = yaml.safe_load(f)
    if not loki.get("compactor", {}).get("retention_enabled"):
        errs.append("loki.yml: compactor retention is not enabled")
    if not loki.get("limits_config", {}).get("retention_period"):
        errs.append("loki.yml: no retention_period")
    if "filesystem" not in str(loki.get("common", {}).get("storage", {})):
        errs.append("loki.yml: storage is not the filesystem")
    with open(f"{DEPLOY}/promtail/promtail.yml") as f:
        pt = yaml.safe_load(f)
    sc = pt.get("scrape_configs", [])
    if not any(c.get("docker_sd_configs") for c in sc):
        errs.append("promtail.yml: no docker_sd_configs")
    text = json.dumps(sc)
    for field in ("level", "request_id", "job_id"):
        if f'"{field}"' not in text:
            errs.append(f"promtail.yml: the JSON field {field} is not extracted")
    if errs:
        fail(errs)
    print("grafana provisioning, loki and promtail: structure as expected")

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"list-metrics": cmd_list_metrics, "targets": cmd_targets, "contract": cmd_contract, "dashboard": cmd_dashboard,
     "rules": cmd_rules, "compose": cmd_compose, "configs": cmd_configs}[cmd](*args)
PY

if [[ ${1:-} == --list-metrics ]]; then
  find_python >&2
  "$PYTHON" "$tmp/helper.py" list-metrics
  exit 0
elif [[ $# -gt 0 ]]; then
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

py() { run "$PYTHON" "$tmp/helper.py" "$@"; }

# Placeholder Docker secrets and a config copy whose container paths point at
# them: promtool (credentials_file) and Compose (secrets: file:) check that
# the files exist, and the real ones are git-ignored and may not exist here.
placeholder_secrets() { # DIR
  mkdir -p "$1"
  local s
  for s in postgres_password database_url bootstrap_admin_password metrics_token master_key grafana_admin_password slack_webhook_url; do
    printf 'placeholder' >"$1/$s"
  done
}

# --- checks ------------------------------------------------------------------------

step "tools"
find_python
need promtool prometheus
need amtool prometheus-alertmanager
find_compose
info "$(promtool --version 2>&1 | head -n 1)"
info "$(amtool --version 2>&1 | head -n 1)"
info "${COMPOSE[*]}: $("${COMPOSE[@]}" version 2>&1 | head -n 1)"

step "Dockerfile"
if command -v hadolint >/dev/null 2>&1; then
  run hadolint "$DEPLOY/Dockerfile"
  info "hadolint: no findings"
else
  info "hadolint not installed: lint skipped"
fi
if command -v cargo >/dev/null 2>&1; then
  # The stub workspace must describe the same packages and targets as the real
  # one, or the cached dependency layer would be built for something else.
  run sh "$DEPLOY/stub-workspace.sh" "$tmp/stubs"
  targets() {
    cargo metadata --no-deps --format-version 1 --offline --quiet --manifest-path "$1" |
      "$PYTHON" "$tmp/helper.py" targets
  }
  targets Cargo.toml >"$tmp/targets.real"
  targets "$tmp/stubs/Cargo.toml" >"$tmp/targets.stub"
  diff -u "$tmp/targets.real" "$tmp/targets.stub" >&2 || die "stub workspace targets differ from the real workspace"
  info "stub workspace has the same $(wc -l <"$tmp/targets.real") targets as the real one"
else
  info "cargo not installed: stub workspace check skipped"
fi

step "promtool check config $DEPLOY/prometheus/prometheus.yml"
placeholder_secrets "$tmp/secrets"
sed -e "s#/run/secrets/#$tmp/secrets/#g" \
    -e "s#/etc/prometheus/rules/#$root/$RULES_DIR/#g" \
    "$DEPLOY/prometheus/prometheus.yml" >"$tmp/prometheus.yml"
info "(checked as a copy with /run/secrets/ -> placeholder files, /etc/prometheus/rules/ -> $RULES_DIR/)"
run promtool check config "$tmp/prometheus.yml"

step "promtool check rules $RULES_DIR/*.yml"
run promtool check rules "$RULES_DIR"/*.yml

step "promtool test rules $TESTS_DIR/*.yml"
run promtool test rules "$TESTS_DIR"/*.yml

step "alert rules: labels, annotations and test coverage"
py rules

step "amtool check-config $DEPLOY/alertmanager/alertmanager.yml"
run amtool check-config "$DEPLOY/alertmanager/alertmanager.yml"
for case in "critical chat-critical" "warning chat-warning"; do
  set -- $case
  run amtool config routes test --config.file="$DEPLOY/alertmanager/alertmanager.yml" \
    --verify.receivers="$2" severity="$1" alertname=Example
done

step "${COMPOSE[*]} config ($DEPLOY/docker-compose.yml, every profile, with .env.example)"
# A copy of deploy/ so that the placeholder secrets never land in the real
# deploy/secrets/ (where they could be mistaken for generated ones).
mkdir -p "$tmp/ctx"
cp -R "$DEPLOY" "$tmp/ctx/deploy"
rm -f "$tmp/ctx/deploy/.env"
placeholder_secrets "$tmp/ctx/deploy/secrets"
compose_config() {
  env -u COMPOSE_FILE -u COMPOSE_PROFILES -u COMPOSE_PROJECT_NAME \
    "${COMPOSE[@]}" --project-directory "$tmp/ctx/deploy" --env-file "$root/$DEPLOY/.env.example" \
    "$@" --profile monitoring --profile backup config -q
}
run compose_config -f "$tmp/ctx/deploy/docker-compose.yml"
info "docker-compose.yml: valid"
run compose_config -f "$tmp/ctx/deploy/docker-compose.yml" -f "$tmp/ctx/deploy/docker-compose.host-metrics.yml"
info "with docker-compose.host-metrics.yml: valid"
py compose "$DEPLOY/docker-compose.yml"

step "Grafana dashboard $DASHBOARD"
run "$PYTHON" -m json.tool "$DASHBOARD" "$tmp/dashboard.json"
info "valid JSON"
py dashboard "$tmp/dashboard-queries.yml"
run promtool check rules "$tmp/dashboard-queries.yml"
info "every dashboard PromQL query parses"

step "metric names against the binary's metric contract"
py contract

step "Grafana provisioning, Loki and promtail configuration"
# No Loki or promtail binary is packaged in Debian: these files get YAML and
# structure checks only.
py configs

step "gen-secrets.sh"
cp "$DEPLOY/gen-secrets.sh" "$tmp/ctx/gen-secrets.sh"
rm -rf "$tmp/ctx/secrets"
run bash "$tmp/ctx/gen-secrets.sh"
for s in postgres_password database_url bootstrap_admin_password metrics_token master_key grafana_admin_password slack_webhook_url; do
  [[ -s "$tmp/ctx/secrets/$s" ]] || die "gen-secrets.sh did not write $s"
done
grep -q "@postgres:5432/" "$tmp/ctx/secrets/database_url" || die "database_url does not point at the postgres service"
info "writes all 7 secrets"

printf '\nall deployment checks passed\n'
