"""Settings from the environment: the names the OmaStack's dashboard Deployment sets (OMA_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PRICE_PER_CPU_HOUR = 0.05  # USD; about an on-demand vCPU-hour at the large clouds (docs/decisions.md)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMA_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_db: str = "oma"
    postgres_user: str = "oma"
    postgres_password: str = ""
    postgres_password_file: Path | None = Field(
        default=None, description="Read the password from this file (a mounted Secret); wins over postgres_password."
    )
    postgres_pool_max: int = Field(default=10, ge=1, le=100)

    stack: str = Field(default="oma", description="The OmaStack this dashboard belongs to.")
    namespace: str = "default"
    stack_ref: bool = Field(default=True, description="Set spec.stackRef on created VideoJobs.")
    kubeconfig: str | None = Field(default=None, description="Unset in a pod: its ServiceAccount is used.")

    destination_claim: str = Field(default="media", description="PVC the VideoJobs write to.")
    media_root: Path = Field(default=Path("/media"), description="Where that PVC is mounted (read-only).")
    source_claims: list[str] = Field(default_factory=list, description="PVCs a submission may read from.")
    presets_file: Path | None = Field(default=None, description="YAML presets; default: the packaged ones.")
    generate_preset: str = "title-card"

    price_per_cpu_hour: float = Field(default=DEFAULT_PRICE_PER_CPU_HOUR, ge=0)
    worker_cpu_request: str = Field(default="1", description="CPU request of a worker without its own.")

    # Requests per minute; a token and its client IP are both checked (one Redis round trip).
    rate_submit_per_minute: int = Field(default=30, ge=1)
    rate_read_per_minute: int = Field(default=1200, ge=1)
    rate_ip_submit_per_minute: int = Field(default=60, ge=1)
    rate_ip_read_per_minute: int = Field(default=2400, ge=1)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    session_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    secure_cookies: bool = Field(
        default=False,
        description="Mark cookies Secure whatever the request's scheme: TLS ends at an ingress in front, and the "
        "hop to the dashboard is plain HTTP from an address uvicorn does not trust for X-Forwarded-Proto.",
    )
    token_cache_seconds: float = Field(
        default=2.0, ge=0, le=60, description="How long a verified token is trusted without asking Postgres."
    )
    recorder: bool = Field(default=True, description="Watch VideoJobs into history (off for CLI tools).")

    def password(self) -> str:
        """The password, from the file when one is named (a credentials rotation restarts the dashboard)."""
        if self.postgres_password_file is not None:
            return self.postgres_password_file.read_text().rstrip("\n")
        return self.postgres_password

    def postgres_conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.postgres_host,
            port=self.postgres_port,
            dbname=self.postgres_db,
            user=self.postgres_user,
            password=self.password(),
            connect_timeout=5,
            application_name="oma-dashboard",
        )
