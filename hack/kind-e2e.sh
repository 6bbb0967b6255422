#!/usr/bin/env bash
# End to end on kind, for machines with Docker (ours have none: CI uses the process-based control plane).
# Creates a kind cluster, builds the operator and worker images, loads them into the cluster, installs the chart
# and runs examples/title-card.yaml to Succeeded. Prints the verified outputs last.
#
#   make kind-e2e                      # or: bash hack/kind-e2e.sh
#   OMA_KIND_CLUSTER=name              # cluster name (default oma-e2e); an existing one is reused
#   OMA_KIND_DELETE=1                  # delete the cluster at the end, pass or fail
#
# Needs: docker, kind (go install sigs.k8s.io/kind@v0.33.0), kubectl, helm 3.17+.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLUSTER="${OMA_KIND_CLUSTER:-oma-e2e}"
TAG="e2e-$(git rev-parse --short HEAD 2>/dev/null || echo local)"
NS=oma-e2e
SYSTEM=oma-system

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not on PATH (see the comment at the top of $0)" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "error: the Docker engine is not reachable (docker info failed)" >&2; exit 2; }

log() { echo "[kind-e2e $(date +%H:%M:%S)] $*" >&2; }
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    log "failed; what the cluster says:"
    kubectl --context "kind-$CLUSTER" -n "$SYSTEM" logs deploy/oma-operator --tail=50 >&2 || true
    kubectl --context "kind-$CLUSTER" -n "$NS" get videojobs,jobs,pods -o wide >&2 || true
    kubectl --context "kind-$CLUSTER" -n "$NS" describe videojob title-card >&2 || true
  fi
  if [ "${OMA_KIND_DELETE:-}" = 1 ]; then kind delete cluster --name "$CLUSTER" || true; fi
  exit "$status"
}
trap cleanup EXIT

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 180s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building images (tag $TAG)"
docker build -f operator-image/Dockerfile -t "oma-operator:$TAG" .
docker build -f worker-image/Dockerfile -t "oma-worker:$TAG" .
kind load docker-image --name "$CLUSTER" "oma-operator:$TAG" "oma-worker:$TAG"

log "installing the chart"
# pullPolicy Never: the images exist only inside the kind node. The worker's IfNotPresent finds the loaded image.
helm upgrade --install oma-operator charts/oma-operator -n "$SYSTEM" --create-namespace \
  --set image.repository=oma-operator --set "image.tag=$TAG" --set image.pullPolicy=Never \
  --set worker.image.repository=oma-worker --set "worker.image.tag=$TAG" \
  --wait --timeout 5m

log "running examples/title-card.yaml"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
# kind's default StorageClass (local-path) provisions the claim the example writes to.
kubectl -n "$NS" apply -f - <<'PVC'
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: media
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
PVC
kubectl -n "$NS" delete videojob title-card --ignore-not-found --wait
kubectl -n "$NS" apply -f examples/title-card.yaml
kubectl -n "$NS" wait --for=condition=Succeeded videojob/title-card --timeout=10m
kubectl -n "$NS" get videojob title-card
kubectl -n "$NS" get videojob title-card -o jsonpath='{range .status.outputs[*]}{.path}{"\t"}{.sizeBytes}{"\n"}{end}'
