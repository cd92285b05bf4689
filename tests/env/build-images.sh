#!/usr/bin/env bash
# Builds the e2e tier's container images with no registry and caches them by content.
#
#   bash tests/env/build-images.sh [NAME...]           build what is missing (default: all)
#   bash tests/env/build-images.sh --export NAME...    also write the archive again when the
#                                                      image is built but its archive was imported
#   bash tests/env/build-images.sh --refs              print "NAME REF" for every image
#
# Images:
#   base      Debian bookworm + python3 + a current pip, made by mmdebstrap from Debian
#             packages: the local stand-in for python:3.11-slim-bookworm
#   jobs, operator, sandbox   images/<name>.Dockerfile, built with BASE_IMAGE=<base>
#   minio     the self-built MinIO binary on the base (the chart's MinIO, no registry)
#   pause     the self-built pause program on an empty image (every pod sandbox)
#
# Each REF's tag is a hash of everything that goes into the image (the Dockerfile,
# pyproject.toml, the sources, the base's tag, a binary's version), so an unchanged tree
# rebuilds nothing and a changed one never runs a stale image. The result is a
# docker-archive under $THYME_CACHE/images/ that the real node imports into its
# containerd (tests/testenv/real_node.py) and then deletes; containerd's own store is
# the cache after that. A `NAME-TAG.done` stamp records what was built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${THYME_CACHE:-$HOME/.cache/thyme}
out="$cache/images"
storage="$cache/buildah"
pipcache="$cache/pip"
mkdir -p "$out" "$storage" "$pipcache"
log() { printf '[build-images] %s\n' "$*" >&2; }
bah() { buildah --root "$storage/root" --runroot "$storage/run" --storage-driver overlay "$@"; }
all=(pause base minio sandbox operator jobs)
# What every build step that reaches PyPI mounts: the wheel cache, and this machine's CA
# bundle and pip config (an egress proxy may re-sign TLS; its CA is trusted here, and
# must be in the build too). Mounted, not copied: nothing of the host ends up in a layer.
ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
mounts=(-v "$pipcache:/pip-cache")
[ -f "$ca" ] && mounts+=(-v "$ca:/etc/ssl/certs/ca-certificates.crt:ro")
[ -f /etc/pip.conf ] && mounts+=(-v "/etc/pip.conf:/etc/pip.conf:ro")

# hash FILE...: a short content hash of the named files and directories (tracked and
# untracked-but-not-ignored files only, so caches and build outputs do not count).
hash() {
  (cd "$root" && git ls-files -co --exclude-standard -- "$@" | LC_ALL=C sort | while read -r f; do
     [ -f "$f" ] && printf '%s\n' "$f" && cat "$f"
   done) | sha256sum | cut -c1-16
}
bin_version() { readlink "$cache/bin/$1" | cut -d/ -f1; }

base_packages="python3 python3-pip python3-venv python-is-python3 ca-certificates passwd"
# Everything build_base does, in words: edit this line whenever build_base changes.
base_recipe="bookworm minbase $base_packages; pip>=25; no EXTERNALLY-MANAGED; LANG=C.UTF-8"
base_tag() { printf '%s\n' "$base_recipe" | sha256sum | cut -c1-16; }
tag_of() {
  case $1 in
    base) base_tag ;;
    pause) bin_version pause | sha256sum | cut -c1-16 ;;
    minio) printf '%s %s\n' "$(bin_version minio)" "$(base_tag)" | sha256sum | cut -c1-16 ;;
    *) printf '%s %s\n' "$(hash "images/$1.Dockerfile" pyproject.toml README.md .dockerignore operator jobs sandbox cli)" "$(base_tag)" \
         | sha256sum | cut -c1-16 ;;
  esac
}
ref_of() { echo "localhost/thyme/$1:$(tag_of "$1")"; }

if [ "${1:-}" = --refs ]; then
  for n in "${all[@]}"; do echo "$n $(ref_of "$n")"; done
  exit 0
fi

have_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

# archive NAME REF: write the docker-archive the node imports, and the stamp.
archive() {
  local name=$1 ref=$2 tag=${2##*:}
  log "exporting $ref"
  rm -f "$out/$name-$tag.tar.tmp"
  bah push --quiet "$ref" "docker-archive:$out/$name-$tag.tar.tmp:$ref" >&2
  mv "$out/$name-$tag.tar.tmp" "$out/$name-$tag.tar"
  touch "$out/$name-$tag.done"
}

# drop_old NAME REF: remove this image's older tags from buildah's store.
drop_old() {
  local name=$1 ref=$2
  local old
  for old in $(bah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep "^localhost/thyme/$name:" || true); do
    [ "$old" = "$ref" ] || bah rmi "$old" >/dev/null 2>&1 || true
  done
}

build_base() {
  local ref=$1 w c
  have_image "$ref" && return
  log "making the Debian base with mmdebstrap ($base_packages)"
  w=$(mktemp -d); c=""
  trap 'rm -rf "$w"; [ -n "$c" ] && bah rm "$c" >/dev/null 2>&1 || true' RETURN
  mmdebstrap --quiet --variant=minbase --include="${base_packages// /,}" \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$w/rootfs.tar" http://deb.debian.org/debian >&2
  c=$(bah from scratch)
  bah add "$c" "$w/rootfs.tar" / >&2
  # python:3.11-slim ships a current pip; Debian's 23.0 cannot read the wheel cache
  # that newer pips write, so the builds below would download torch again.
  bah run --isolation chroot --network host "${mounts[@]}" "$c" -- \
    env PIP_CACHE_DIR=/pip-cache PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    python3 -m pip install --quiet --upgrade "pip>=25" >&2
  bah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd python3 "$c"
  bah commit --quiet "$c" "$ref" >/dev/null
}

build_dockerfile() {
  local name=$1 ref=$2 base=$3
  log "building $ref from images/$name.Dockerfile on $base"
  (cd "$root" && bah bud --quiet --isolation chroot --network host --layers \
    --build-arg "BASE_IMAGE=$base" "${mounts[@]}" \
    -f "images/$name.Dockerfile" -t "$ref" . >&2)
}

build_minio() {
  local ref=$1 base=$2 c
  c=$(bah from --pull=never "$base")
  bah copy "$c" "$cache/bin/$(readlink "$cache/bin/minio")" /usr/local/bin/minio >&2
  bah run --isolation chroot "$c" -- useradd --uid 1000 --create-home --shell /usr/sbin/nologin minio >&2
  bah config --user 1000 --entrypoint '["/usr/local/bin/minio"]' --cmd '' "$c"
  bah commit --quiet --rm "$c" "$ref" >/dev/null
}

build_pause() {
  local ref=$1 c
  c=$(bah from scratch)
  bah copy "$c" "$cache/bin/$(readlink "$cache/bin/pause")" /pause >&2
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  bah commit --quiet --rm "$c" "$ref" >/dev/null
}

export_=0; [ "${1:-}" = --export ] && { export_=1; shift; }
names=("$@"); [ ${#names[@]} -eq 0 ] && names=("${all[@]}")
base_ref=$(ref_of base)
for name in "${names[@]}"; do
  ref=$(ref_of "$name"); tag=${ref##*:}
  [ -f "$out/$name-$tag.tar" ] && continue
  if [ -f "$out/$name-$tag.done" ]; then
    [ $export_ = 0 ] && continue
    if have_image "$ref"; then archive "$name" "$ref"; continue; fi
  fi
  start=$(date +%s)
  case $name in
    base) build_base "$ref" ;;
    pause) build_pause "$ref" ;;
    minio) build_base "$base_ref"; build_minio "$ref" "$base_ref" ;;
    jobs|operator|sandbox) build_base "$base_ref"; build_dockerfile "$name" "$ref" "$base_ref" ;;
    *) log "unknown image $name (known: ${all[*]})"; exit 2 ;;
  esac
  [ "$name" = base ] || archive "$name" "$ref"
  [ "$name" = base ] && touch "$out/$name-$tag.done"
  drop_old "$name" "$ref"
  log "$name ready in $(( $(date +%s) - start ))s"
done
