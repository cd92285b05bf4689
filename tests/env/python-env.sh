#!/usr/bin/env bash
# Creates (once) a virtual environment outside the work tree with everything the tests
# need, at the versions constraints.txt locks, keyed by the Python version and the hash of
# the lock and pyproject.toml's dependency lists, then installs this checkout into it in
# editable mode. Prints the venv's path.
#
# Why outside the tree: torch and its CUDA libraries are gigabytes; a fresh clone (CI)
# must not download them again. Why the lock: the images install from the same file, so
# the tests run the versions a cluster runs, and a clone made next month resolves what
# this one did. Why the hash: any change to a locked version or a dependency makes a new
# venv instead of mutating one that another checkout may be using; the pip cache beside
# the venvs keeps torch's wheels, so a new venv with the same torch downloads nothing big.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${THYME_CACHE:-$HOME/.cache/thyme}
py=${PYTHON:-python3}
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
lock="$root/constraints.txt"
# The locked versions and the dependency lists key the venv: editing a description or a
# comment of the lock must not reinstall torch.
key=$("$py" - "$root/pyproject.toml" "$lock" <<'PY'
import hashlib, json, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
deps = [project.get("dependencies", []), project.get("optional-dependencies", {})]
pins = sorted(line.split("#")[0].strip() for line in open(sys.argv[2]) if line.split("#")[0].strip())
print(hashlib.sha256(json.dumps([deps, pins], sort_keys=True).encode()).hexdigest()[:12])
PY
)
venv="$cache/venv/py$pyver-$key"
log() { printf '[python-env] %s\n' "$*" >&2; }

mkdir -p "$cache/venv"
# Keep downloaded wheels with the venvs, so a new venv (a bumped pin) reuses torch.
export PIP_CACHE_DIR="$cache/pip"
# One creator at a time: a second caller waits here instead of deleting a venv that
# the first is still filling.
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  log "creating $venv (first time for this pyproject.toml: torch makes it take minutes)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  # Install the project's dependencies (not the project) so the venv outlives checkouts.
  "$venv/bin/pip" install -q -c "$lock" "$root[dev]" >&2
  "$venv/bin/pip" uninstall -q -y thyme-k8s >&2
  touch "$venv/.complete"
fi
# Editable install of this checkout: cheap, and re-pointed at whichever clone runs it.
"$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$root" >&2
flock -u 9
echo "$venv"
