#!/usr/bin/env bash
# Builds the control-plane binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# kwok, helm) and promcheck (Prometheus' own rule and PromQL parser, to check our alert rules) from the pinned
# Go modules under hack/tools/ into a per-version cache outside the repo.
# Prints the bin directory as its last line. Rebuilds only when a pin (go.mod/go.sum) or the Go version changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/tools"

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.21.4

if ! command -v go >/dev/null 2>&1; then
  echo "error: Go is not on PATH. Install Go >= 1.26 (e.g. from /usr/local/go) and re-run; the control plane is built from Go modules." >&2
  exit 2
fi
gov="$(go env GOVERSION)"
case "$gov" in
  go1.2[6-9]*|go1.[3-9][0-9]*) ;;
  *) echo "error: $gov is too old; the pinned modules (Kubernetes $K8S_VERSION, KWOK $KWOK_VERSION) need Go >= 1.26." >&2; exit 2 ;;
esac

# The cache key covers every input of the build: pins, sums, this script and the toolchain.
key="$(cat "$tools"/*/go.mod "$tools"/*/go.sum "$tools"/*/*.go "${BASH_SOURCE[0]}" 2>/dev/null | sha256sum | cut -c1-12)"
cache="${OMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oma}"
bin="$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-$gov-$key/bin"

want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm promcheck)
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
export GOTOOLCHAIN=local GOFLAGS=-trimpath CGO_ENABLED=0
log() { echo "[build-tools $(date +%H:%M:%S)] $*" >&2; }

has() { [[ " ${missing[*]} " == *" $1 "* ]]; }

if has etcd; then
  log "etcd $ETCD_VERSION"
  (cd "$tools/etcd" && go build -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
    -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3) && mv "$bin/etcd.tmp" "$bin/etcd"
fi

k8s=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do has "$b" && k8s+=("k8s.io/kubernetes/cmd/$b"); done
if [ ${#k8s[@]} -gt 0 ]; then
  log "kubernetes $K8S_VERSION: ${k8s[*]##*/}"
  maj="${K8S_VERSION#v}"; maj="${maj%%.*}"; min="${K8S_VERSION#v*.}"; min="${min%%.*}"
  # Without these, gitVersion is a placeholder that breaks Helm's kubeVersion check and kwok's version parsing.
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  tmp="$bin/.k8s-tmp"; mkdir -p "$tmp"
  (cd "$tools/k8s" && go build -tags selinux,notest,grpcnotrace -ldflags "$ldf" -o "$tmp/" "${k8s[@]}")
  mv "$tmp"/* "$bin/" && rmdir "$tmp"
fi

if has kwok; then
  log "kwok $KWOK_VERSION"
  (cd "$tools/kwok" && go build -ldflags "-s -w" -o "$bin/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok) && mv "$bin/kwok.tmp" "$bin/kwok"
fi

if has helm; then
  log "helm $HELM_VERSION"
  # The Kubernetes version `helm template` and `helm lint` assume without a cluster (default 1.20 otherwise, which
  # fails our chart's kubeVersion): the client-go minor Helm v3.21 is built with, as upstream's Makefile sets.
  hl="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    hl="$hl -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=36"
  done
  (cd "$tools/helm" && go build -ldflags "$hl" -o "$bin/helm.tmp" helm.sh/helm/v3/cmd/helm) && mv "$bin/helm.tmp" "$bin/helm"
fi

if has promcheck; then
  log "promcheck (prometheus $(sed -n 's/.*prometheus\/prometheus \(v[^ ]*\).*/\1/p' "$tools/promcheck/go.mod"))"
  (cd "$tools/promcheck" && go build -ldflags "-s -w" -o "$bin/promcheck.tmp" .) && mv "$bin/promcheck.tmp" "$bin/promcheck"
fi

for b in "${want[@]}"; do
  [ -x "$bin/$b" ] || { echo "error: $b was not built into $bin" >&2; exit 1; }
done
log "done"
echo "$bin"
