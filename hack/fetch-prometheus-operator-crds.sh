#!/usr/bin/env bash
# Fetches prometheus-operator's own CRDs (ServiceMonitor, PodMonitor, PrometheusRule) from its Go module, for
# tests that check what an OmaStack does when prometheus-operator is installed. Prints the directory.
set -euo pipefail

VERSION=v0.85.0
MODULE=github.com/prometheus-operator/prometheus-operator
cache="${OMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oma}"
out="$cache/prometheus-operator-crds-$VERSION"
kinds=(servicemonitors podmonitors prometheusrules)

if [ -f "$out/monitoring.coreos.com_prometheusrules.yaml" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "error: Go is not on PATH; it fetches $MODULE@$VERSION from the module proxy (see hack/build-tools.sh)." >&2
  exit 2
fi
# -mod=mod and an empty work dir: `go mod download` of a module outside any build list.
dir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
[ -n "$dir" ] || { echo "error: go mod download $MODULE@$VERSION failed" >&2; exit 1; }
mkdir -p "$out.tmp"
for k in "${kinds[@]}"; do
  cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml" "$out.tmp/"
done
chmod -R u+w "$out.tmp"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
