#!/usr/bin/env bash
# Installs the Debian packages oma's tests and demo use, only those missing. As root it runs apt-get;
# otherwise it prints the command to run.
set -euo pipefail

packages=(
  util-linux      # unshare: process-backed pods get a private mount namespace
  mount           # bind mounts for volumeMounts
  ca-certificates
  ffmpeg          # the worker (ffmpeg-python drives Debian's ffmpeg/ffprobe)
  fonts-dejavu-core  # title cards' font
  postgresql      # OmaStack's backup script and password hook, run against a real server (tests/stack)
  redis-server    # and the Redis snapshot script
  redis-tools
  chromium        # the dashboard's browser test (Playwright drives /usr/bin/chromium; never `playwright install`)
  # The real node (make cluster-up NODE=real, make images, make e2e); containerd, kubelet and CoreDNS are Go-built.
  runc            # containerd's OCI runtime (its shim is built from containerd's module: Debian has none)
  containernetworking-plugins  # bridge, host-local, loopback, portmap in /usr/lib/cni
  iptables        # kube-proxy's Service rules and our FORWARD guard (nf_tables backend)
  conntrack       # kube-proxy clears stale UDP flows with it
  nftables        # nft: teardown deletes the nf_tables tables iptables-nft made for the node
  buildah         # builds our Dockerfiles without a Docker engine
  mmdebstrap      # the Debian base image, made locally from the mirror apt uses
  prometheus      # promtool: `promtool test rules` fires and silences every alert (its server is not started)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}" >&2
  echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# We want promtool only: on a host with systemd, the package's Prometheus server would start and keep :9090.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
