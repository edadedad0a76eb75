#!/usr/bin/env bash
# Offline checks of components/monitoring, with promtool (Debian's prometheus package) and python3:
# - the PrometheusRule's groups, extracted into a plain rules file, pass `promtool check rules`;
# - the alerts' unit tests (components/monitoring/prometheus-rules.test.yaml) pass `promtool test
#   rules`: each alert fires on the series it is meant for and stays quiet on the others;
# - the dashboard (components/monitoring/dashboards/csm.json) is JSON, and every query in it parses
#   as PromQL (each becomes a recording rule of a temporary file checked by promtool, Grafana's
#   variables replaced by sample values);
# - every runbook_url names a section of docs/operations.md that exists.
#
#   deploy/k8s/check-monitoring.sh
#
# Needs promtool and python3 with PyYAML (validate.sh's virtual environment under CSM_K8S_OUT
# is used when python3 has none). No Prometheus is contacted.
#   CSM_K8S_OUT   where the extracted files are written (default: target/k8s)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${CSM_K8S_OUT:-$root/target/k8s}
component=$here/components/monitoring
work=$out/monitoring

fail() { echo "check-monitoring.sh: $*" >&2; exit 1; }

command -v promtool >/dev/null 2>&1 ||
  fail "promtool not found: install Debian's prometheus package (apt-get install prometheus)"
python=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
  [[ -x "$out/venv/bin/python" ]] || fail "python3 has no PyYAML: pip install pyyaml, or run validate.sh first"
  python=$out/venv/bin/python
fi

rm -rf "$work"
mkdir -p "$work"

"$python" - "$component" "$root/docs/operations.md" "$work" <<'PY'
import json, re, sys, yaml

component, operations, work = sys.argv[1:]
problems = []

# The PrometheusRule's groups, as Prometheus reads them from a rules file.
with open(f"{component}/prometheus-rules.yaml", encoding="utf-8") as f:
    rule = yaml.safe_load(f)
if rule.get("kind") != "PrometheusRule" or rule.get("apiVersion") != "monitoring.coreos.com/v1":
    problems.append("prometheus-rules.yaml is not a monitoring.coreos.com/v1 PrometheusRule")
groups = rule["spec"]["groups"]
with open(f"{work}/rules.yaml", "w", encoding="utf-8") as f:
    yaml.safe_dump({"groups": groups}, f, sort_keys=False, allow_unicode=True)

# GitHub's anchors for the headings of the operations guide.
def anchor(heading):
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
with open(operations, encoding="utf-8") as f:
    anchors = {anchor(line.lstrip("#")) for line in f if line.startswith("#")}
for group in groups:
    for r in group["rules"]:
        if "alert" not in r:
            continue
        where = f"alert {r['alert']}"
        labels, notes = r.get("labels") or {}, r.get("annotations") or {}
        if labels.get("severity") not in {"critical", "warning", "info"}:
            problems.append(f"{where}: severity is not critical, warning or info")
        for key in ("summary", "description", "runbook_url"):
            if not notes.get(key):
                problems.append(f"{where}: no {key} annotation")
        url = notes.get("runbook_url") or ""
        if "docs/operations.md#" not in url:
            problems.append(f"{where}: runbook_url does not point into docs/operations.md")
        elif url.split("#", 1)[1] not in anchors:
            problems.append(f"{where}: docs/operations.md has no section #{url.split('#', 1)[1]}")

# Every query of the dashboard, as a recording rule; Grafana's variables get sample values.
with open(f"{component}/dashboards/csm.json", encoding="utf-8") as f:
    dashboard = json.load(f)
def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels") or [])
exprs = []
for p in panels(dashboard.get("panels") or []):
    for t in p.get("targets") or []:
        if t.get("expr"):
            exprs.append((p.get("title"), t["expr"]))
if not exprs:
    problems.append("the dashboard has no queries")
def sample(expr):
    expr = re.sub(r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}", "5m", expr)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "sample", expr)
records = [{"record": f"dashboard:query:{i}", "expr": sample(e)} for i, (_, e) in enumerate(exprs)]
with open(f"{work}/dashboard-queries.yaml", "w", encoding="utf-8") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}, f, sort_keys=False)
with open(f"{work}/dashboard-queries.txt", "w", encoding="utf-8") as f:
    for i, (title, e) in enumerate(exprs):
        f.write(f"dashboard:query:{i}\t{title}\t{e}\n")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
PY

cp "$component/prometheus-rules.test.yaml" "$work/"
alerts=$(grep -c '^ *- alert:' "$component/prometheus-rules.yaml")
echo "promtool: check the alerting rules ($alerts alerts)"
promtool check rules "$work/rules.yaml"
echo "promtool: unit tests of the alerts"
promtool test rules "$work/prometheus-rules.test.yaml"
echo "promtool: parse the dashboard's $(wc -l <"$work/dashboard-queries.txt") queries"
if ! promtool check rules "$work/dashboard-queries.yaml"; then
  echo "the queries, by record name: $work/dashboard-queries.txt" >&2
  exit 1
fi
echo "monitoring: rules, tests, dashboard and runbook links ok"
