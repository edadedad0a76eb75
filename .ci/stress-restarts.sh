#!/usr/bin/env bash
# The restart scenarios in a loop: a producer restarting mid-stream, a consumer crashing and
# restarting, two replicas handing over the feed, a rolling restart of each service while calls
# flow. A flaky restart test fails CI at random, so these must pass every time:
#
#   .ci/stress-restarts.sh [iterations]          # 50 by default, on SQLite, then on PostgreSQL
#   CSM_STRESS_DATABASES=sqlite .ci/stress-restarts.sh 10
#
# PostgreSQL is taken from CSM_CI_POSTGRES (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

ITERATIONS=${1:-50}
POSTGRES=${CSM_CI_POSTGRES:-postgres://postgres@127.0.0.1:5432}
DATABASES=${CSM_STRESS_DATABASES:-sqlite postgres}
FILTERS=(feed:: restarts::)

binary=$(cargo test -p csm-tests --test system --no-run --locked --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "system":
        print(m["executable"])')
[ -x "$binary" ] || { echo "the system test binary was not built" >&2; exit 1; }
# A copy, so that a rebuild while the loop runs does not change what it tests.
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp "$binary" "$copy/system"
binary="$copy/system"

for database in $DATABASES; do
  if [ "$database" = postgres ]; then export CSM_TEST_POSTGRES="$POSTGRES"; else unset CSM_TEST_POSTGRES; fi
  failures=0
  for i in $(seq 1 "$ITERATIONS"); do
    log=$(mktemp)
    if "$binary" "${FILTERS[@]}" --test-threads 2 >"$log" 2>&1; then
      printf '%s %d/%d ok (%s)\n' "$database" "$i" "$ITERATIONS" "$(grep -o '[0-9]* passed' "$log" | tail -n1)"
    else
      failures=$((failures + 1))
      printf '%s %d/%d FAILED\n' "$database" "$i" "$ITERATIONS"
      grep -E 'panicked|FAILED|Status' "$log" | head -n 20
    fi
    rm -f "$log"
  done
  echo "$database: $((ITERATIONS - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ] || exit 1
done
