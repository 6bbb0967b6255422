#!/usr/bin/env bash
# Builds the real node's Go components from pinned modules into a per-version cache outside the repo:
# kubelet and kube-proxy (hack/tools/k8s, the control plane's pin), containerd, ctr and containerd-shim-runc-v2
# (hack/tools/node/containerd), CoreDNS with the plugins the DNS add-on uses (hack/tools/node/coredns) and the
# pods' sandbox process (hack/tools/node/pause). runc and the CNI plugins come from Debian (install-deps.sh).
# Prints the bin directory as its last line. Rebuilds only when a pin, this script or the Go version changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/tools"

K8S_VERSION=v1.36.3
CONTAINERD_VERSION="$(sed -n 's/^\tgithub.com\/containerd\/containerd\/v2 \(v[^ ]*\).*/\1/p' "$tools/node/containerd/go.mod")"
COREDNS_VERSION="$(sed -n 's/^require github.com\/coredns\/coredns \(v[^ ]*\).*/\1/p' "$tools/node/coredns/go.mod")"

command -v go >/dev/null 2>&1 || { echo "error: Go is not on PATH (see hack/build-tools.sh)" >&2; exit 2; }
gov="$(go env GOVERSION)"
key="$(cat "$tools"/k8s/go.mod "$tools"/k8s/go.sum "$tools"/node/*/go.mod "$tools"/node/*/go.sum "$tools"/node/*/*.go \
  "${BASH_SOURCE[0]}" 2>/dev/null | sha256sum | cut -c1-12)"
cache="${OMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oma}"
bin="$cache/node-k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION-coredns-$COREDNS_VERSION-$gov-$key/bin"

want=(kubelet kube-proxy containerd ctr containerd-shim-runc-v2 coredns pause)
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
export GOTOOLCHAIN=local GOFLAGS=-trimpath CGO_ENABLED=0
log() { echo "[build-node $(date +%H:%M:%S)] $*" >&2; }
has() { [[ " ${missing[*]} " == *" $1 "* ]]; }
tmp="$bin/.tmp"; rm -rf "$tmp"; mkdir -p "$tmp"

if has kubelet || has kube-proxy; then
  log "kubelet, kube-proxy $K8S_VERSION"
  maj="${K8S_VERSION#v}"; maj="${maj%%.*}"; min="${K8S_VERSION#v*.}"; min="${min%%.*}"
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  (cd "$tools/k8s" && go build -tags selinux,notest,grpcnotrace -ldflags "$ldf" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
fi

if has containerd || has ctr || has containerd-shim-runc-v2; then
  log "containerd $CONTAINERD_VERSION"
  # No btrfs/devmapper/zfs snapshotters (overlayfs only) and pure-Go user and DNS lookups, as a static binary.
  tags=urfave_cli_no_docs,no_btrfs,no_devmapper,no_zfs,osusergo,netgo
  ldf="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  (cd "$tools/node/containerd" && go build -tags "$tags" -ldflags "$ldf" -o "$tmp/" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr)
  # The shim runs once per pod: no_grpc keeps it small (it speaks ttrpc only).
  (cd "$tools/node/containerd" && go build -tags "$tags,no_grpc" -ldflags "$ldf" -o "$tmp/" \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2)
fi

if has coredns; then
  log "coredns $COREDNS_VERSION"
  (cd "$tools/node/coredns" && go build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
    -o "$tmp/coredns" .)
fi

if has pause; then
  (cd "$tools/node/pause" && go build -ldflags "-s -w" -o "$tmp/pause" .)
fi

mv "$tmp"/* "$bin/" && rmdir "$tmp"
for b in "${want[@]}"; do
  [ -x "$bin/$b" ] || { echo "error: $b was not built into $bin" >&2; exit 1; }
done
log "done"
echo "$bin"
