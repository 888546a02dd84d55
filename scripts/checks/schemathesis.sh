#!/usr/bin/env bash
# Fuzz a live ingress against docs/openapi.yaml with schemathesis (PyPI).
#
# Starts the real stack as processes of the built binary: the Zoom
# simulator (seeded with the demo account), an ingress, a sync worker and a
# token worker, on the test RabbitMQ (a queue prefix of its own) and Redis
# (a database of its own), connects the demo account through a connect
# link, then runs schemathesis three times: without credentials, with the
# admin token (admin routes) and with the join key (join routes). Passes
# only with zero 5xx answers, zero responses that break the schema and zero
# hangs (every request has a timeout); prints the number of requests.
#
# Needs RECTOKEN_TEST_AMQP_URL and RECTOKEN_TEST_REDIS_URL, as
# `eval "$(scripts/services env)"` exports them. Installs schemathesis into
# a venv under ~/.cache/rectoken if it is missing.
#
# Environment: RECTOKEN_SCHEMATHESIS_EXAMPLES (examples per operation,
# default 100), RECTOKEN_TOOLS_DIR (the venv's parent directory).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
: "${RECTOKEN_TEST_AMQP_URL:?run eval \"\$(scripts/services env)\" first}"
: "${RECTOKEN_TEST_REDIS_URL:?run eval \"\$(scripts/services env)\" first}"
EXAMPLES=${RECTOKEN_SCHEMATHESIS_EXAMPLES:-100}
TOOLS=${RECTOKEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rectoken}
VENV=$TOOLS/schemathesis-venv
ST_VERSION=4.32.5
say() { printf '[schemathesis] %s\n' "$*"; }

if [[ ! -x $VENV/bin/st ]] || ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  say "installing schemathesis $ST_VERSION into $VENV"
  mkdir -p "$TOOLS"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi

say "building rectoken"
cargo build -q -p rectoken --bin rectoken
BIN=$ROOT/target/debug/rectoken

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rectoken-schemathesis.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIM_PORT=$(free_port)
HTTP_PORT=$(free_port)
SYNC_PORT=$(free_port)
TOKEN_PORT=$(free_port)
BASE=http://127.0.0.1:$HTTP_PORT
ADMIN=schemathesis-admin-$RANDOM$RANDOM
JOIN=schemathesis-join-$RANDOM$RANDOM
# Redis database 9 and a queue prefix of its own: nothing shared with tests.
REDIS_URL=${RECTOKEN_TEST_REDIS_URL%/}/9

export RECTOKEN_AMQP_URL=$RECTOKEN_TEST_AMQP_URL
export RECTOKEN_REDIS_URL=$REDIS_URL
export RECTOKEN_QUEUE_PREFIX=schemathesis-$$-$RANDOM.
export RECTOKEN_ENCRYPTION_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
export RECTOKEN_ALLOW_VOLATILE_REDIS=true
export ZOOM_CLIENT_ID=schemathesis-client
export ZOOM_CLIENT_SECRET=schemathesis-client-secret-$RANDOM$RANDOM
export ZOOM_WEBHOOK_SECRET=schemathesis-webhook-secret-$RANDOM$RANDOM
export ZOOM_API_URL=http://127.0.0.1:$SIM_PORT/v2
export ZOOM_OAUTH_URL=http://127.0.0.1:$SIM_PORT/oauth
export RECTOKEN_LOG=warn

"$BIN" sim --addr "127.0.0.1:$SIM_PORT" --seed-demo >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
RECTOKEN_HTTP_ADDR=127.0.0.1:$HTTP_PORT RECTOKEN_ADMIN_TOKEN=$ADMIN RECTOKEN_JOIN_KEY=$JOIN \
  "$BIN" ingress >"$WORK/ingress.log" 2>&1 &
PIDS+=($!)
RECTOKEN_METRICS_ADDR=127.0.0.1:$SYNC_PORT "$BIN" sync-worker >"$WORK/sync.log" 2>&1 &
PIDS+=($!)
RECTOKEN_METRICS_ADDR=127.0.0.1:$TOKEN_PORT "$BIN" token-worker >"$WORK/token.log" 2>&1 &
PIDS+=($!)

say "waiting for the stack"
for url in "$BASE/readyz" "http://127.0.0.1:$SYNC_PORT/readyz" "http://127.0.0.1:$TOKEN_PORT/readyz"; do
  for _ in $(seq 1 120); do
    if curl -fsS -m 2 "$url" >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  curl -fsS -m 2 "$url" >/dev/null || { tail -n 20 "$WORK"/*.log >&2; echo "not ready: $url" >&2; exit 1; }
done

say "connecting the demo account through a connect link"
LINK=$(curl -fsS -X POST -H "Authorization: Bearer $ADMIN" "$BASE/admin/connect-links" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
curl -fsS -L -c "$WORK/jar" -b "$WORK/jar" -o /dev/null "$LINK"

# Every request has a timeout (a hang fails the run). The checks: no 5xx,
# and the answer keeps the document (status code, content type, headers,
# body schema). Not positive_data_acceptance: a schema-valid join request
# for a meeting URL that is not one is rightly answered 400.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
run() {
  local name=$1
  shift
  say "run: $name"
  "$VENV/bin/st" run docs/openapi.yaml --url "$BASE" \
    --checks "$CHECKS" --max-examples "$EXAMPLES" --request-timeout 30 \
    --report junit --report-junit-path "$WORK/$name.xml" \
    --no-color "$@" 2>&1 | tee "$WORK/$name.out" | tail -n 25
}
FAILED=0
run anonymous || FAILED=1
run admin --include-path-regex '^/admin' -H "Authorization: Bearer $ADMIN" || FAILED=1
run join --include-path-regex '^/(join|zoom/join-token)' -H "Authorization: Bearer $JOIN" || FAILED=1

TOTAL=$(python3 - "$WORK" <<'EOF'
import glob, sys, xml.etree.ElementTree as ET
n = 0
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for case in ET.parse(f).getroot().iter("testcase"):
        n += 1
print(n)
EOF
)
# One request per test case.
REQUESTS=$(cat "$WORK"/*.out | grep -Eo '^ *[0-9]+ generated' | awk '{s+=$1} END {print s+0}')
say "operations tested (3 runs): $TOTAL; requests: $REQUESTS; seconds: $SECONDS"
if [[ $FAILED -ne 0 ]]; then
  KEEP=${TMPDIR:-/tmp}/rectoken-schemathesis-last
  rm -rf "$KEEP" && mkdir -p "$KEEP" && cp "$WORK"/*.out "$WORK"/*.log "$WORK"/*.xml "$KEEP"/ 2>/dev/null || true
  say "FAILED: schemathesis outputs and the stack's logs kept in $KEEP"
  exit 1
fi
say "ok: no 5xx, no schema violation, no hang"
