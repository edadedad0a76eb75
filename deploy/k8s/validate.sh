#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests: renders the base on its own and every overlay
# with kustomize, validates each output against the Kubernetes API schemas (kubernetes-validate,
# strict: unknown fields are errors), then checks the rules of check_rendered.py (probes, limits,
# hardened security context, references that resolve, SQLite never scaled, ...).
#
#   deploy/k8s/validate.sh                    # base and every overlay
#   deploy/k8s/validate.sh overlays/dev       # some of them, relative to deploy/k8s
#
# Needs kubectl (1.27 or newer: kustomize v5 inside) and python3; installs the pinned
# kubernetes-validate with pip when it is missing (into a virtual environment under CSM_K8S_OUT when
# python3's own environment is externally managed). No cluster is contacted.
#   CSM_K8S_OUT       where the rendered manifests are written (default: target/k8s)
#   CSM_K8S_VERSIONS  Kubernetes versions to validate against (default: "1.30.0 1.37.0", the oldest
#                     the manifests support and the newest the validator knows)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${CSM_K8S_OUT:-$root/target/k8s}
validator_version=1.37.0
read -r -a k8s_versions <<<"${CSM_K8S_VERSIONS:-1.30.0 1.37.0}"
# Custom resources the schemas do not cover; any other kind without a schema is an error (a
# misspelt apiVersion of a built-in kind lands here).
schemaless='^(Cluster postgresql\.cnpg\.io/v1|Certificate cert-manager\.io/v1|Issuer cert-manager\.io/v1|PodMonitor monitoring\.coreos\.com/v1|PrometheusRule monitoring\.coreos\.com/v1)$'

fail() { echo "validate.sh: $*" >&2; exit 1; }

command -v kubectl >/dev/null 2>&1 ||
  fail "kubectl not found: install kubectl 1.27 or newer (it embeds kustomize v5), e.g. from your distribution's kubernetes-client package"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"

# The pinned validator (it brings PyYAML, which check_rendered.py uses too): in python3's own
# environment when pip may install there, else in a virtual environment under $out.
python=python3
has_validator() {
  [[ "$("$1" -c 'from kubernetes_validate.version import __version__; print(__version__)' 2>/dev/null)" == "$validator_version" ]]
}
if ! has_validator "$python"; then
  if [[ -x "$out/venv/bin/python" ]] && has_validator "$out/venv/bin/python"; then
    python=$out/venv/bin/python
  else
    echo "installing kubernetes-validate==$validator_version"
    pip_install=(-m pip install --quiet --disable-pip-version-check "kubernetes-validate==$validator_version")
    if ! python3 "${pip_install[@]}" 2>/dev/null; then
      # An externally managed interpreter (PEP 668) refuses; a private environment does not.
      mkdir -p "$out"
      { python3 -m venv "$out/venv" && "$out/venv/bin/python" "${pip_install[@]}"; } ||
        fail "could not install kubernetes-validate==$validator_version with pip (python3 -m venv needs python3-venv)"
      python=$out/venv/bin/python
    fi
  fi
fi

if (($# > 0)); then
  targets=("$@")
else
  targets=(base)
  for dir in "$here"/overlays/*/; do
    targets+=("overlays/$(basename "$dir")")
  done
fi

mkdir -p "$out"
version_args=()
for v in "${k8s_versions[@]}"; do version_args+=(-k "$v"); done

status=0
for target in "${targets[@]}"; do
  target=${target%/}
  [[ -f "$here/$target/kustomization.yaml" ]] || fail "$target: no kustomization.yaml under $here/$target"
  name=${target//\//-}
  rendered="$out/$name.yaml"
  if ! kubectl kustomize "$here/$target" >"$rendered"; then
    echo "FAIL $target: kustomize could not render it"
    status=1
    continue
  fi

  # Schemas: failures are errors; "no schema" warnings are allowed for the known custom resources.
  report="$out/$name.schema.txt"
  schema_ok=true
  "$python" -m kubernetes_validate --strict --quiet "${version_args[@]}" "$rendered" >"$report" 2>&1 || schema_ok=false
  unknown=$(sed -n 's/.*Couldn.t find schema for kind \([^ ]*\) with api version \([^ ]*\) .*/\1 \2/p' "$report" |
    sort -u | grep -Ev "$schemaless" || true)
  if [[ -n "$unknown" ]]; then
    echo "$target: no schema for: $unknown"
    schema_ok=false
  fi
  if ! $schema_ok; then
    grep -v "Couldn.t find schema" "$report" || true
  fi

  rules_ok=true
  base_flag=()
  [[ "$target" == base ]] && base_flag=(--base) # the database comes from an overlay's component
  "$python" "$here/check_rendered.py" "${base_flag[@]}" "$target" "$rendered" || rules_ok=false

  count=$("$python" -c 'import sys, yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$rendered")
  kinds=$("$python" -c '
import collections, sys, yaml
c = collections.Counter(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)
print(", ".join(f"{n} {k}" for k, n in sorted(c.items())))' "$rendered")
  if $schema_ok && $rules_ok; then
    echo "ok   $target: $count resources ($kinds)"
  else
    echo "FAIL $target: $count resources; see above"
    status=1
  fi
done

if ((status == 0)); then
  echo "manifests valid against Kubernetes ${k8s_versions[*]}; rendered into $out"
fi
exit $status
