"""Postgres' credentials Secret."""

from __future__ import annotations

import base64

from oma.operator.omastack import builders as b

from ..conftest import stack


def test_credentials_secret_carries_the_given_password_only() -> None:
    secret = b.build_credentials_secret(stack(postgres={"user": "app", "database": "media"}), "pw-123")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["password"] == "pw-123" and data["username"] == "app" and data["database"] == "media"
    assert data["uri"] == "postgresql://app:pw-123@s-postgres.ns.svc:5432/media"
    assert "stringData" not in secret
