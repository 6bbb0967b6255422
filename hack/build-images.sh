#!/usr/bin/env bash
# Builds oma's container images without a Docker engine or a registry: a Debian bookworm base made locally by
# mmdebstrap from the mirror apt uses, then buildah builds of our Dockerfiles on that base, each saved as an OCI
# archive in a content-addressed cache outside the repo. The real node imports those archives into containerd
# (python -m oma.devcluster images). As root (buildah's storage and mmdebstrap need it).
#
#   hack/build-images.sh [NAME...]     default: every image below
# Prints one line per image, last: "<name> <ref> <archive>". An image is rebuilt only when its inputs change
# (its Dockerfile, its build context, the base's inputs, this script).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${OMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oma}/images"
mkdir -p "$cache"
log() { echo "[build-images $(date +%H:%M:%S)] $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "error: building images needs root (mmdebstrap and buildah's overlay storage); run: sudo $0 $*" >&2
  exit 2
fi
for tool in mmdebstrap buildah; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing; run: make deps" >&2; exit 2; }
done

# name | Dockerfile | build context (files hashed into the key, relative to the repo)
images=(
  "operator|operator-image/Dockerfile|pyproject.toml README.md LICENSE requirements.lock src"
  "worker|worker-image/Dockerfile|pyproject.toml README.md LICENSE requirements.lock src"
  "redis|hack/images/redis/Dockerfile|hack/images/redis"
  "postgres|hack/images/postgres/Dockerfile|hack/images/postgres"
  "redis-exporter|hack/images/redis-exporter/Dockerfile|hack/images/redis-exporter"
  "postgres-exporter|hack/images/postgres-exporter/Dockerfile|hack/images/postgres-exporter"
)
if [ -f "$repo/dashboard-image/Dockerfile" ]; then
  images+=("dashboard|dashboard-image/Dockerfile|pyproject.toml README.md LICENSE requirements.lock src dashboard-image")
fi

# buildah's own storage, shared by every build of this cache (its layers are not the cache: the archives are).
store=(--root "$cache/storage" --runroot "$cache/runroot" --storage-driver overlay)
bah() { buildah "${store[@]}" "$@"; }

prune() {  # keep one archive per image name: the one just built
  find "$cache" -maxdepth 1 -name "$1-????????????????.oci.tar" ! -path "$2" -delete  # 16 hex: not redis-exporter
}

hash_files() {  # sha256 over the paths and contents of every file under the given repo-relative paths
  local p existing=()
  for p in "$@"; do [ -e "$repo/$p" ] && existing+=("$p"); done
  (cd "$repo" && find "${existing[@]}" -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# --- the Debian base ------------------------------------------------------------------------------------------------
# The suites debian:bookworm-slim uses, from the mirror this machine's apt already reaches.
mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p; s/^deb \[*[^]]*\]* *\(http[^ ]*debian\) .*/\1/p' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
security="${mirror%/debian}/debian-security"
sources=("deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main")
# As debian:bookworm-slim: no docs, man pages or translations in any image built on it.
excludes=('/usr/share/doc/*' '/usr/share/man/*' '/usr/share/locale/*')
# The key is the recipe (suites, options), not this file: editing the image builds below keeps the base.
# apt keeps no .debs or package caches in a layer, as debian:bookworm-slim's docker-clean does.
clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
# merged-/usr by mmdebstrap's own hook, not the usrmerge package (which would pull perl into every image).
recipe=(--variant=minbase --include=ca-certificates --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='Dir::Cache::pkgcache ""' --aptopt='Dir::Cache::srcpkgcache ""'
  --aptopt="DPkg::Post-Invoke { $clean }" --aptopt="APT::Update::Post-Invoke { $clean }")
for e in "${excludes[@]}"; do recipe+=(--dpkgopt="path-exclude=$e"); done
recipe+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')
base_key="$(printf '%s\n' "${sources[@]}" "${recipe[@]}" | sha256sum | cut -c1-16)"
base_ref="localhost/oma/debian:bookworm-$base_key"

# Made only when a Dockerfile image is due: `up --node real` needs just pause and CoreDNS, which need no base.
ensure_base() {
  if ! bah inspect --type image "$base_ref" >/dev/null 2>&1; then
    tar="$cache/debian-bookworm-$base_key.tar"
    if [ ! -s "$tar" ]; then
      log "base: mmdebstrap bookworm from $mirror"
      mmdebstrap --quiet --format=tar "${recipe[@]}" bookworm "$tar.tmp" "${sources[@]}"
      mv "$tar.tmp" "$tar"
    fi
    log "base: import as $base_ref"
    c="$(bah from scratch)"
    bah add "$c" "$tar" / >/dev/null
    bah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
    bah commit --quiet --rm "$c" "$base_ref" >/dev/null
    # Earlier bases and their tarballs: the images built on them are pruned as they are rebuilt.
    bah images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/oma/debian:' | grep -vx "$base_ref" |
      xargs -r -n1 buildah "${store[@]}" rmi >/dev/null 2>&1 || true
    find "$cache" -maxdepth 1 -name 'debian-bookworm-*.tar' ! -path "$tar" -delete
  fi
}

# --- images of one Go binary each: the pods' sandbox (registry.k8s.io/pause cannot be pulled here) and CoreDNS -----
node_bin=""
binary_image() {  # name, uid to run as, then the binary's arguments
  local name="$1" user="$2" bin key ref archive c
  shift 2
  [ -n "$node_bin" ] || node_bin="$(bash "$repo/hack/build-node.sh" | tail -1)"
  bin="$node_bin/$name"
  key="$(printf '%s\n' "$(sha256sum "$bin")" "$user" "$@" | sha256sum | cut -c1-16)"
  ref="localhost/oma/$name:$key"
  archive="$cache/$name-$key.oci.tar"
  if [ ! -s "$archive" ]; then
    log "$name: image of $bin"
    c="$(bah from scratch)"
    bah copy "$c" "$bin" "/$name" >/dev/null
    bah config --entrypoint "[\"/$name\"]" --cmd "$*" --user "$user" "$c"
    bah commit --quiet --rm "$c" "$ref" >/dev/null
    bah push --quiet "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null
    mv "$archive.tmp" "$archive"
    bah rmi "$ref" >/dev/null 2>&1 || true
    prune "$name" "$archive"
  fi
  echo "$name $ref $archive"
}

# RUN steps may fetch from PyPI: they trust what this machine trusts (its CA bundle, read-only, and a pip.conf
# pointing at it; some networks intercept TLS). Nothing of it lands in an image: volumes are not committed.
host_ca=/etc/ssl/certs/ca-certificates.crt
trust=()
if [ -s "$host_ca" ]; then
  printf '[global]\ncert = /run/oma-host-ca.crt\n' >"$cache/pip.conf"
  trust=(-v "$host_ca:/run/oma-host-ca.crt:ro" -v "$cache/pip.conf:/etc/pip.conf:ro")
fi

# --- our images -----------------------------------------------------------------------------------------------------
want=("$@")
wanted() { [ ${#want[@]} -eq 0 ] || [[ " ${want[*]} " == *" $1 "* ]]; }
if wanted pause; then binary_image pause 65535:65535; fi
if wanted coredns; then binary_image coredns 65532:65532; fi
for entry in "${images[@]}"; do
  IFS='|' read -r name dockerfile context <<<"$entry"
  wanted "$name" || continue
  # shellcheck disable=SC2086  # the context is a list of paths
  key="$(printf '%s\n' "$base_key" "$(sha256sum "$repo/$dockerfile")" "$(hash_files $context)" | sha256sum | cut -c1-16)"
  ref="localhost/oma/$name:$key"
  archive="$cache/$name-$key.oci.tar"
  if [ ! -s "$archive" ]; then
    ensure_base
    log "$name: buildah build ($dockerfile)"
    t0=$(date +%s)
    dir="$repo"
    case "$dockerfile" in hack/images/*) dir="$repo/$(dirname "$dockerfile")" ;; esac
    # --network host: apt-get in RUN reaches the mirror like the host does; buildah's default build network would
    # masquerade through a bridge of its own. --pull=never: every FROM is our base or a stage of the same file.
    bah build --quiet --network host --pull=never --layers=false "${trust[@]}" --build-arg "BASE=$base_ref" \
      -f "$repo/$dockerfile" -t "$ref" "$dir" >/dev/null
    bah push --quiet "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null
    mv "$archive.tmp" "$archive"
    bah rmi "$ref" >/dev/null 2>&1 || true
    prune "$name" "$archive"
    log "$name: built in $(( $(date +%s) - t0 ))s, $(du -m "$archive" | cut -f1) MB archive"
  fi
  echo "$name $ref $archive"
done
