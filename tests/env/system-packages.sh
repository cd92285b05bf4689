#!/usr/bin/env bash
# Installs the Debian packages the tests need: gVisor's runsc, and g++ (DeepSpeed compiles
# its CPU collective on first use in the RL tests). Idempotent and quiet when everything
# is already there.
set -euo pipefail
need=()
command -v runsc >/dev/null 2>&1 || [ -x /usr/sbin/runsc ] || need+=(runsc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
[ ${#need[@]} -eq 0 ] && exit 0
echo "[system-packages] installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
$sudo_ apt-get update -qq >&2
$sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
