#!/usr/bin/env bash
# Checks everything under deploy/ offline:
# - every Kubernetes manifest against the schemas of Kubernetes $KUBERNETES_VERSION
#   (kubernetes-validate, pinned in deploy/requirements.txt, installed in
#   target/deploy-venv), strictly: an unknown field or kind fails;
# - every kustomization.yaml lists exactly the manifests beside it;
# - the Prometheus alerting rules with promtool (Debian's `prometheus` package):
#   `check rules`, and `test rules` on the alerts' unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.33.0}

source scripts/python-venv.sh
venv=target/deploy-venv
python_venv deploy/requirements.txt "$venv"

mapfile -t manifests < <(find deploy/kubernetes -name '*.yaml' ! -name kustomization.yaml | sort)
if [ "${#manifests[@]}" -eq 0 ]; then
    echo "no manifests under deploy/kubernetes" >&2
    exit 1
fi
# A kind without a schema is only a warning to kubernetes-validate: fail on it too.
report=$("$venv/bin/kubernetes-validate" --strict -k "$KUBERNETES_VERSION" "${manifests[@]}" 2>&1) || {
    echo "$report" >&2
    exit 1
}
echo "$report"
if grep -qv '^INFO .* passed for resource ' <<<"$report"; then
    echo "some manifest did not pass against Kubernetes $KUBERNETES_VERSION" >&2
    exit 1
fi

"$venv/bin/python" - deploy/kubernetes <<'PY'
import pathlib, sys, yaml

failed = False
for kustomization in sorted(pathlib.Path(sys.argv[1]).rglob("kustomization.yaml")):
    listed = set(yaml.safe_load(kustomization.read_text()).get("resources", []))
    beside = {p.name for p in kustomization.parent.glob("*.yaml")} - {kustomization.name}
    if listed != beside:
        print(f"{kustomization}: lists {sorted(listed)}, the folder has {sorted(beside)}",
              file=sys.stderr)
        failed = True
    else:
        print(f"{kustomization}: lists every manifest beside it")
sys.exit(1 if failed else 0)
PY

if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool not found: apt-get install prometheus (Debian's package ships it)" >&2
    exit 1
fi
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml
