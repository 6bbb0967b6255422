"""Where the API is and who we are: kubeconfig or in-cluster identity, and the same as kopf login fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightkube import KubeConfig
from lightkube.config.models import User


def kube_config(kubeconfig: str | None = None) -> KubeConfig:
    """In a pod: the ServiceAccount (KUBERNETES_SERVICE_HOST/PORT); elsewhere: $KUBECONFIG or ~/.kube/config."""
    return KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()


def connection_fields(kubeconfig: str | None = None) -> dict[str, Any] | None:
    """The endpoint and credentials our client uses, as kopf.ConnectionInfo fields, so kopf's watches and our
    writes reach the same server the same way. (kopf's own in-cluster login assumes DNS for
    kubernetes.default.svc.) None for exec and auth-provider users, which only a full client library handles.
    Reads token files anew each time: bound ServiceAccount tokens rotate."""
    config = kube_config(kubeconfig).get()
    assert config is not None, "no current context in the kubeconfig"
    cluster, user = config.cluster, config.user or User()
    if user.exec or user.auth_provider:
        return None
    fields: dict[str, Any] = {"server": cluster.server, "default_namespace": config.namespace}
    if cluster.insecure:
        fields["insecure"] = True
    if cluster.certificate_auth:
        fields["ca_path"] = str(config.abs_file(cluster.certificate_auth))
    elif cluster.certificate_auth_data:
        fields["ca_data"] = cluster.certificate_auth_data
    if user.token_file:
        fields["token"] = Path(config.abs_file(user.token_file)).read_text().strip()
    elif user.token:
        fields["token"] = user.token
    if user.username:
        fields["username"], fields["password"] = user.username, user.password
    if user.client_cert:
        fields["certificate_path"] = str(config.abs_file(user.client_cert))
    elif user.client_cert_data:
        fields["certificate_data"] = user.client_cert_data
    if user.client_key:
        fields["private_key_path"] = str(config.abs_file(user.client_key))
    elif user.client_key_data:
        fields["private_key_data"] = user.client_key_data
    return fields
