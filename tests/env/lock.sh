#!/usr/bin/env bash
# Re-resolves constraints.txt, the lock that the test venv (python-env.sh) and every
# image (images/*.Dockerfile) install from: a scratch venv gets the newest versions
# pyproject.toml's floors allow for the dev extra (everything but the GPU-only packages),
# and `pip freeze` of it becomes the lock. Run it when you raise a floor or add a
# dependency, then run the tests (they get a new venv, keyed by the lock's hash).
#   bash tests/env/lock.sh          # rewrites constraints.txt
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-python3}
cache=${THYME_CACHE:-$HOME/.cache/thyme}
export PIP_CACHE_DIR="$cache/pip"   # reuse the wheels the venvs already downloaded
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$py" -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install -q --upgrade pip
"$scratch/venv/bin/pip" install -q "$root[dev]"
{
  echo "# The lock: exact versions of every package the dev extra pulls in (Python $("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])'), Linux x86_64)."
  echo "# Written by tests/env/lock.sh; installed with pip install -c by tests/env/python-env.sh and images/*.Dockerfile."
  "$scratch/venv/bin/pip" freeze --exclude thyme-k8s --exclude pip | LC_ALL=C sort -f
} > "$root/constraints.txt"
echo "[lock] wrote $root/constraints.txt ($(grep -vc '^#' "$root/constraints.txt") packages)" >&2
