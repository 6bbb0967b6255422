"""A real local Kubernetes control plane for development and tests (no container runtime needed).

The control plane:
  cluster       up / down / status, and the names callers use (`from oma.devcluster import cluster`)
  layout        the state directory, cluster.json (ClusterInfo), the names every part agrees on
  processes     starting, finding and stopping the cluster's processes; start-up waits with log tails
  components    each component's binary, command line, admin kubeconfig and health endpoint
  ports, pki    the ports they listen on, the certificates they use
  bootstrap     the two nodes and the default StorageClass, and waiting until they are usable
  errors        ClusterError, the failure a developer can act on
The process-backed node (`python -m oma.devcluster node`):
  node          the pod watch and each pod's lifecycle
  watch         list-then-watch, shared with the provisioner
  volumes, container_env, config_sources, podspec   what a pod's process is started with
  pod_status    pure: the status the node reports for a pod
  provisioner   PVCs of the default StorageClass as directories
For tests, bench/ and the demo:
  fixtures      install_crds, claim
  operator_process   `oma operator` as a child process against this cluster
"""
