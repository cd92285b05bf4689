#!/usr/bin/env bash
# Builds the control plane, the real node's kubelet and kube-proxy, kwok, helm, MinIO,
# CoreDNS and the pods' pause program from their Go modules into a cache outside the
# work tree, keyed by version, and prints the bin directory.
#
# Why a wrapper module for Kubernetes and etcd: their go.mod files replace their
# staging/sibling modules with local paths, so `go install module@version` is refused.
# A throwaway module that requires k8s.io/kubernetes vX.Y.Z and replaces every staging
# module with its published v0.Y.Z (etcd: each sibling module at the same version)
# builds the same mains from the module proxy alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${THYME_CACHE:-$HOME/.cache/thyme}
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
log() { printf '[build-components] %s\n' "$*" >&2; }

# have NAME VERSION: true when the cached binary exists.
have() { [ -x "$bin/$1-$2/$1" ]; }
# link NAME VERSION: point the stable name at the versioned build.
link() { ln -sfn "$1-$2/$1" "$bin/$1"; }

build_kubernetes() {
  local v=$KUBERNETES_VERSION minor=${KUBERNETES_VERSION#v1.}
  local staging="v0.$minor" names=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
  local missing=0
  for n in "${names[@]}"; do have "$n" "$v" || missing=1; done
  if [ $missing = 0 ]; then for n in "${names[@]}"; do link "$n" "$v"; done; return; fi
  log "building Kubernetes $v (first time only; ~7 min on 2 idle cores)"
  local w; w=$(mktemp -d); trap 'rm -rf "$w"' RETURN
  local modfile; modfile=$(cd "$w" && go mod download -json "k8s.io/kubernetes@$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module thyme.local/k8s-build"
    grep -E '^go [0-9]' "$modfile"
    grep -E '^godebug ' "$modfile" || true
    echo "require k8s.io/kubernetes $v"
    # Every `k8s.io/x => ./staging/src/k8s.io/x` becomes the published k8s.io/x v0.Y.Z.
    sed -nE 's#^[[:space:]]*(k8s\.io/[A-Za-z0-9._/-]+)[[:space:]]+=>[[:space:]]+\./staging/.*#replace \1 => \1 '"$staging"'#p' "$modfile"
  } > "$w/go.mod"
  cat > "$w/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
  (cd "$w" && go mod tidy -e >/dev/null 2>&1 || true)
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/client-go/pkg/version.gitVersion=$v"
  for n in "${names[@]}"; do
    have "$n" "$v" && continue
    log "go build $n"
    mkdir -p "$bin/$n-$v"
    (cd "$w" && go build -trimpath -ldflags "$ld" -o "$bin/$n-$v/$n.tmp" "k8s.io/kubernetes/cmd/$n")
    mv "$bin/$n-$v/$n.tmp" "$bin/$n-$v/$n"
  done
  for n in "${names[@]}"; do link "$n" "$v"; done
}

build_etcd() {
  local v=$ETCD_VERSION
  if have etcd "$v"; then link etcd "$v"; return; fi
  log "building etcd $v"
  local w; w=$(mktemp -d); trap 'rm -rf "$w"' RETURN
  local modfile; modfile=$(cd "$w" && go mod download -json "go.etcd.io/etcd/server/v3@$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module thyme.local/etcd-build"
    grep -E '^go [0-9]' "$modfile"
    echo "require go.etcd.io/etcd/server/v3 $v"
    # Sibling replaces (=> ../api, ../pkg, ...) become the published modules at $v.
    sed -nE 's#^[[:space:]]*(go\.etcd\.io/etcd/[A-Za-z0-9._/-]+)[[:space:]]+=>[[:space:]]+\.\./.*#replace \1 => \1 '"$v"'#p' "$modfile"
  } > "$w/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "$w/tools.go"
  (cd "$w" && go mod tidy -e >/dev/null 2>&1 || true)
  mkdir -p "$bin/etcd-$v"
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd-$v/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$bin/etcd-$v/etcd.tmp" "$bin/etcd-$v/etcd"
  link etcd "$v"
}

# go_install NAME MODULE/PATH VERSION
go_install() {
  local n=$1 pkg=$2 v=$3
  if ! have "$n" "$v"; then
    log "go install $pkg@$v"
    mkdir -p "$bin/$n-$v"
    GOBIN="$bin/$n-$v" go install -trimpath -ldflags "-s -w" "$pkg@$v"
  fi
  link "$n" "$v"
}

# The pause program every pod sandbox runs: our own (tests/env/pause), since the
# upstream one is C and lives only in a registry image. Keyed by its source hash.
build_pause() {
  local v; v=$(cat "$here/pause/go.mod" "$here/pause/main.go" | sha256sum | cut -c1-12)
  if ! have pause "$v"; then
    log "go build pause"
    mkdir -p "$bin/pause-$v"
    (cd "$here/pause" && go build -trimpath -ldflags "-s -w" -o "$bin/pause-$v/pause.tmp" .)
    mv "$bin/pause-$v/pause.tmp" "$bin/pause-$v/pause"
  fi
  link pause "$v"
}

build_kubernetes
build_etcd
build_pause
go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
go_install kwokctl sigs.k8s.io/kwok/cmd/kwokctl "$KWOK_VERSION"
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_install minio github.com/minio/minio "$MINIO_VERSION"
go_install coredns github.com/coredns/coredns "$COREDNS_VERSION"
echo "$bin"
