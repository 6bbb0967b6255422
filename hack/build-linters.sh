#!/usr/bin/env bash
# Builds the manifest linters (kubeconform, kube-score) from the pinned Go module hack/linters/bin-src and writes
# kubeconform's JSON schemas for Kubernetes 1.30 (the chart's oldest) and 1.36 (the control plane's) from the
# swagger.json inside the pinned k8s.io/kubernetes modules (hack/kube_schemas.py): nothing is downloaded at test
# time, and nothing but Go modules from the module proxy at build time.
# Prints the directory (bin/ and schemas/) as its last line. Rebuilds only when an input changes.
#
# Not part of hack/build-tools.sh on purpose: its cache key covers every hack/tools/*/go.mod, so a new module
# there would rebuild the whole control plane on every machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/linters/bin-src"
# Kubernetes versions kubeconform validates against: the oldest the chart allows (kubeVersion >=1.30) and the
# control plane's (hack/build-tools.sh). Each k8s.io/kubernetes module's checksum is pinned below, as go.sum would.
K8S_VERSIONS=(v1.30.14 v1.36.3)
declare -A K8S_SUM=(
  [v1.30.14]="h1:MrlKXh9uhLIJpyxOeXhcndzRVSvwiV9iJ8NgH8nqPsg="
  [v1.36.3]="$(sed -n 's|^k8s.io/kubernetes v1.36.3 \(h1:.*\)$|\1|p' "$here/tools/k8s/go.sum")"
)

if ! command -v go >/dev/null 2>&1; then
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || { echo "error: Go is not on PATH (see hack/build-tools.sh)" >&2; exit 2; }
gov="$(go env GOVERSION)"
key="$(cat "$src/go.mod" "$src/go.sum" "$here/kube_schemas.py" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
cache="${OMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oma}"
out="$cache/linters-$gov-$key"

if [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi
log() { echo "[build-linters $(date +%H:%M:%S)] $*" >&2; }
t0=$(date +%s)
rm -rf "$out.tmp" && mkdir -p "$out.tmp/bin" "$out.tmp/schemas"
export GOTOOLCHAIN=local GOFLAGS=-trimpath CGO_ENABLED=0

log "kubeconform and kube-score ($(sed -n 's/.*yannh\/kubeconform \(v[^ ]*\).*/\1/p' "$src/go.mod"), $(sed -n 's/.*zegl\/kube-score \(v[^ ]*\).*/\1/p' "$src/go.mod"))"
(cd "$src" && go build -ldflags "-s -w" -o "$out.tmp/bin/" \
  github.com/yannh/kubeconform/cmd/kubeconform github.com/zegl/kube-score/cmd/kube-score)

for v in "${K8S_VERSIONS[@]}"; do
  log "schemas of Kubernetes $v"
  # -mod=mod in an empty directory: a download outside any build list (hack/fetch-prometheus-operator-crds.sh).
  info="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$v")"
  dir="$(sed -n 's/.*"Dir": "\(.*\)",*/\1/p' <<<"$info")"
  sum="$(sed -n 's/.*"Sum": "\(.*\)",*/\1/p' <<<"$info")"
  [ "$sum" = "${K8S_SUM[$v]}" ] || { echo "error: k8s.io/kubernetes@$v has sum $sum, pinned ${K8S_SUM[$v]}" >&2; exit 1; }
  python3 "$here/kube_schemas.py" swagger "$dir/api/openapi-spec/swagger.json" "$out.tmp/schemas/$v-standalone-strict"
done

touch "$out.tmp/.complete"
rm -rf "$out" && mv "$out.tmp" "$out"
log "done in $(( $(date +%s) - t0 ))s"
echo "$out"
