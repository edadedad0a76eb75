#!/usr/bin/env bash
# The TM Forum facade against the official documents: starts the whole system with `csm up`, runs
# TM Forum's TMF621 R18 conformance kit with newman (every case must pass), then schemathesis from
# the TMF621 v4 and v5 and TMF656 v4 specifications over the operations the adapter implements,
# with every check but `positive_data_acceptance` (the documents cannot say what csm refuses for
# its own reasons, such as a callback that is not a URL or a date csm keeps itself).
#
#   .ci/tmf-conformance.sh [TMF_DIR]   # default vendor/tmf, the unmodified copies (vendor/README.md)
#
# The kit and the documents are read unmodified; the kit is given the bearer token it needs by a
# copy with collection-level auth. newman and schemathesis come from npm and PyPI at pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."

TMF=${1:-vendor/tmf}
NEWMAN_VERSION=6.2.1
SCHEMATHESIS_VERSION=4.32.5
BASE_PORT=${CSM_CONFORMANCE_PORT:-58151}
TARGET=${CARGO_TARGET_DIR:-target}

[[ -d "$TMF" ]] || { echo "tmf-conformance.sh: no TM Forum material at $TMF" >&2; exit 1; }

cargo build --locked -q -p csm-cli --bin csm
work=$(mktemp -d)
"$TARGET/debug/csm" up --data-dir "$work/data" --base-port "$BASE_PORT" >"$work/csm.log" 2>&1 &
csm=$!
cleanup() { kill "$csm" 2>/dev/null || true; wait "$csm" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

api="http://127.0.0.1:$((BASE_PORT + 4))"
for _ in $(seq 1 120); do
  curl -fsS "$api/health/ready" >/dev/null 2>&1 && break
  kill -0 "$csm" 2>/dev/null || { cat "$work/csm.log" >&2; exit 1; }
  sleep 1
done
curl -fsS "$api/health/ready" >/dev/null

token() {
  python3 -c 'import sys, tomllib
tokens = tomllib.load(open(sys.argv[1], "rb"))["tokens"]
print(next(t["token"] for t in tokens if t["subject"] == sys.argv[2]))' "$work/data/tokens.toml" "$1"
}
agent=$(token agent)
supervisor=$(token supervisor)

echo "-- TMF621 R18 conformance kit (newman)"
python3 - "$TMF/tmf621-ctk-r18/CTK-TMF621-TroubleTicket.postman_collection.json" "$work/ctk.json" "$agent" <<'PY'
import json, sys
collection = json.load(open(sys.argv[1]))
collection["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": sys.argv[3], "type": "string"}]}
json.dump(collection, open(sys.argv[2], "w"))
PY
npx --yes "newman@$NEWMAN_VERSION" run "$work/ctk.json" \
  --env-var "TroubleTicketAPI=$api/tmf-api/troubleTicket/v4" --reporters cli --color off

echo "-- specifications (schemathesis)"
venv=${XDG_CACHE_HOME:-$HOME/.cache}/csm-ci/schemathesis-$SCHEMATHESIS_VERSION
if [[ ! -x "$venv/bin/schemathesis" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
check() {
  local spec=$1 root=$2 paths=$3
  echo "   $spec"
  NO_COLOR=1 "$venv/bin/schemathesis" run "$spec" --url "$api$root" \
    -H "Authorization: Bearer $supervisor" --include-path-regex "$paths" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples 40 --seed 621656 --workers 1
}
check "$TMF/tmf621/TMF621-TroubleTicket-v4.0.0.swagger.json" /tmf-api/troubleTicket/v4 '^/(troubleTicket(/|$)|hub)'
check "$TMF/tmf621/TMF621-Trouble_Ticket-v5.0.1.oas.yaml" /tmf-api/troubleTicket/v5 '^/(troubleTicket(/|$)|hub)'
check "$TMF/tmf656/TMF656-ServiceProblem-v4.0.0.swagger.json" /tmf-api/serviceProblemManagement/v4 '^/serviceProblem(/|$)'
echo "-- conformance ok"
