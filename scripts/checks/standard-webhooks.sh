#!/usr/bin/env bash
# Account-event webhooks are signed the Standard Webhooks way: verify
# signatures rectoken produced with an independent implementation, the PyPI
# package `standardwebhooks`, not only with rectoken's own code.
#
# Needs python3 with the venv module (Debian: python3-venv) and pip access
# to PyPI (or a wheel of `standardwebhooks` in PIP_FIND_LINKS). Fails loudly
# when the package cannot be installed: this check never skips.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CARGO=${CARGO:-cargo}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rectoken-stdwebhooks.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# A fresh secret per run: 24 random bytes, as Standard Webhooks suggests.
SECRET="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(24)).decode())')"

if ! python3 -m venv "$TMP/venv"; then
  echo "standard-webhooks: python3 -m venv failed (install python3-venv)" >&2
  exit 1
fi
if ! "$TMP/venv/bin/pip" install --quiet standardwebhooks; then
  echo "standard-webhooks: pip could not install the PyPI package 'standardwebhooks';" \
    "this check needs it (network access to PyPI, or its wheel in PIP_FIND_LINKS)" >&2
  exit 1
fi

(cd "$ROOT" && "$CARGO" run --quiet -p rectoken-domain --example standard_webhooks_fixtures -- "$SECRET") \
  >"$TMP/fixtures.json"

SECRET="$SECRET" "$TMP/venv/bin/python" - "$TMP/fixtures.json" <<'PY'
import datetime, json, os, sys
from importlib.metadata import version
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret = os.environ["SECRET"]
fixtures = json.load(open(sys.argv[1]))
assert len(fixtures) >= 4, fixtures
wh = Webhook(secret)
for f in fixtures:
    body, headers = f["body"], f["headers"]
    # 1. The library accepts rectoken's signature.
    payload = wh.verify(body, headers)
    assert payload == json.loads(body), (payload, body)
    # 2. The library signs the same (id, timestamp, body) byte for byte alike.
    ts = datetime.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=datetime.timezone.utc)
    assert wh.sign(headers["webhook-id"], ts, body) == headers["webhook-signature"], f
    # 3. And it refuses a changed body, id or secret (the check can fail).
    for bad_body, bad_headers, bad_wh in [
        (body + " ", headers, wh),
        (body, {**headers, "webhook-id": headers["webhook-id"] + "x"}, wh),
        (body, headers, Webhook("whsec_" + "A" * 32)),
    ]:
        try:
            bad_wh.verify(bad_body, bad_headers)
        except WebhookVerificationError:
            pass
        else:
            raise SystemExit(f"standardwebhooks accepted a tampered delivery: {f}")
print(f"standard-webhooks: {len(fixtures)} rectoken signatures verified by standardwebhooks {version('standardwebhooks')}")
PY
