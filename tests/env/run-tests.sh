#!/usr/bin/env bash
# The README's test command: install everything the tests need, then run them all.
#   1. Debian packages (runsc)
#   2. Go-built components (etcd, kube-apiserver, kube-controller-manager,
#      kube-scheduler, kubectl, kwok, kwokctl, helm, minio), cached by version
#   3. the e2e tier's images (pause, operator), built with no registry, cached by content
#   4. the Python environment, cached by the hash of the dependency lists
#   5. pytest over every tier; the gpu tier skips itself without CUDA
# Extra arguments go to pytest (e.g. `make test ARGS="-m unit"`).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
start=$(date +%s)
bash tests/env/system-packages.sh
bash tests/env/build-components.sh >/dev/null
bash tests/env/build-images.sh pause operator
venv=$(bash tests/env/python-env.sh)
echo "[run-tests] environment ready in $(( $(date +%s) - start ))s; venv $venv" >&2
export PATH="$venv/bin:$PATH"
"$venv/bin/lint-imports" --config "$root/.importlinter"
status=0
"$venv/bin/python" -m pytest "$@" || status=$?
echo "[run-tests] finished in $(( $(date +%s) - start ))s with status $status" >&2
exit $status
