#!/usr/bin/env bash
# Installs the Debian packages the tests need. Idempotent and quiet when everything is
# already there.
#   runsc                         gVisor: the sandbox tests and the real node's `gvisor` RuntimeClass
#   g++                           DeepSpeed compiles its CPU collective on first use in the RL tests
#   containerd, runc              the e2e tier's real node runtime (CRI v1)
#   containernetworking-plugins   pod networking on that node (bridge, host-local, portmap, loopback)
#   nftables, iptables, conntrack kube-proxy's nftables mode; the CNI plugins' iptables rules
#   buildah, mmdebstrap           the images, built with no registry on a Debian-made base
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have runsc || need+=(runsc)
have g++ || need+=(g++)
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have nft || need+=(nftables)
have iptables || need+=(iptables)
have conntrack || need+=(conntrack)
have buildah || need+=(buildah)
have mmdebstrap || need+=(mmdebstrap)
[ ${#need[@]} -eq 0 ] && exit 0
echo "[system-packages] installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
$sudo_ apt-get update -qq >&2
$sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
