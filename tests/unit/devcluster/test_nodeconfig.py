"""The real node's configuration is pure: names and addresses from the state dir, files from those."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import yaml

from oma.devcluster.nodeconfig import (
    DNS_SERVICE_IP,
    SERVICE_CIDR,
    NodePaths,
    PodNetwork,
    cni_conflist,
    containerd_config,
    coredns_manifests,
    kube_proxy_config,
    kubelet_config,
)

PATHS = NodePaths(Path("/tmp/some-cluster"))
NET = PodNetwork(ipaddress.IPv4Network("10.201.7.0/24"))


def test_names_are_unique_to_the_state_dir_and_fit_the_kernels_limits() -> None:
    other = NodePaths(Path("/tmp/other-cluster"))
    assert PATHS.tag != other.tag and PATHS.bridge != other.bridge
    assert len(PATHS.bridge) <= 15
    assert PATHS.cgroup_root == f"/oma-{PATHS.tag}"


def test_the_pod_network_skips_routed_subnets_and_kwoks_range() -> None:
    first = PodNetwork.for_tag(PATHS.tag, [])
    assert first.subnet.subnet_of(ipaddress.IPv4Network("10.200.0.0/13"))
    assert not first.subnet.overlaps(ipaddress.IPv4Network("10.244.0.0/16"))
    second = PodNetwork.for_tag(PATHS.tag, [first.subnet])
    assert second.subnet != first.subnet
    assert first.gateway == str(first.subnet.network_address + 1)


def test_pods_get_no_masquerade_and_no_default_route() -> None:
    conf = json.loads(cni_conflist(PATHS, NET))
    bridge = conf["plugins"][0]
    assert bridge["bridge"] == PATHS.bridge and bridge["ipMasq"] is False
    assert bridge["ipam"]["routes"] == [{"dst": SERVICE_CIDR}]
    assert bridge["ipam"]["dataDir"].startswith(str(PATHS.root))


def test_containerd_keeps_to_the_state_dir_and_does_not_lower_oom_scores() -> None:
    cfg = containerd_config(PATHS, "localhost/oma/pause:x")
    assert "restrict_oom_score_adj = true" in cfg
    assert "sandbox = 'localhost/oma/pause:x'" in cfg
    assert "SystemdCgroup = false" in cfg
    for line in cfg.splitlines():
        if line.strip().startswith(("root =", "state =", "temp =", "address =", "path =", "Root =", "conf_dir =")):
            assert str(PATHS.root) in line, line


def test_kubelet_and_kube_proxy_settings_the_machine_needs() -> None:
    kubelet = yaml.safe_load(kubelet_config(PATHS, NET, Path("/ca.crt")))
    assert kubelet["failCgroupV1"] is False and kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["resolvConf"] == "" and kubelet["clusterDNS"] == [DNS_SERVICE_IP]
    assert kubelet["authentication"]["anonymous"]["enabled"] is False and kubelet["readOnlyPort"] == 0
    proxy = yaml.safe_load(
        kube_proxy_config(PATHS, NET, Path("/kc"), {"kube-proxy-healthz": 1, "kube-proxy-metrics": 2})
    )
    assert proxy["oomScoreAdj"] == 0 and proxy["iptables"]["localhostNodePorts"] is False
    assert proxy["nodePortAddresses"] == [f"{NET.gateway}/32"]


def test_coredns_serves_the_cluster_domain_unprivileged() -> None:
    objs = {o["kind"]: o for o in coredns_manifests("img")}
    assert objs["Service"]["spec"]["clusterIP"] == DNS_SERVICE_IP
    container = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["runAsNonRoot"] and container["imagePullPolicy"] == "Never"
    assert "forward" not in objs["ConfigMap"]["data"]["Corefile"]
