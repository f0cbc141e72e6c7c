"""Every setting of GPT Desk in one typed class, read from GPTDESK_* environment variables."""

import os
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse as parse_rate
from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(Exception):
    """A setting has a value GPT Desk cannot work with."""


def default_data_dir() -> Path:
    """Where GPT Desk keeps its data when not told: per user, or /var/lib/gptdesk for root."""
    if os.geteuid() == 0:
        # root's home is not searchable by the unprivileged user PostgreSQL runs as.
        return Path("/var/lib/gptdesk")
    return Path(user_data_dir("gptdesk", appauthor=False))


class Settings(BaseSettings):
    """GPT Desk configuration; each field is GPTDESK_<FIELD NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="GPTDESK_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db) of an existing "
        "database, used to migrate; when unset an embedded PostgreSQL is started.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the embedded PostgreSQL cluster, the JWT secret and logs.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port.")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    public_url: str | None = Field(
        default=None, description="URL clients use to reach GPT Desk (default http://HOST:PORT)."
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 secret for access tokens and the anon/service-role keys; generated "
        "once and kept in the data dir when unset. Hosts of one deployment must share it.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["*"], description="Comma-separated origins allowed by CORS ('*' for any)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest log level written."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", description="'json' (one object a line) or 'console' (for humans)."
    )
    db_pool_min: int = Field(
        default=2, ge=0, description="Pooled connections kept open per worker."
    )
    db_pool_max: int = Field(default=10, ge=1, description="Pooled connections at most per worker.")
    jwt_algorithm: Literal["HS256", "ES256", "RS256"] = Field(
        default="HS256",
        description="How access tokens are signed: HS256 with the secret, or ES256/RS256 with "
        "a private key whose public half is served at /auth/v1/.well-known/jwks.json.",
    )
    jwt_signing_key_file: Path | None = Field(
        default=None,
        description="PEM private key for ES256/RS256; generated once into the data dir if unset.",
    )
    jwt_exp: int = Field(
        default=3600, ge=30, le=7 * 86400, description="Lifetime of access tokens in seconds."
    )
    open_signup: bool = Field(
        default=False,
        description="Allow sign-up without an invitation (off: teams invite their members).",
    )
    autoconfirm: bool = Field(
        default=False,
        description="Treat new e-mail addresses as confirmed without a confirmation e-mail.",
    )
    site_url: str | None = Field(
        default=None,
        description="The app's URL: where links in mails lead when no allowed redirect_to is "
        "given (default: the public URL).",
    )
    redirect_urls: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated URL patterns ('*' matches anything) a redirect_to may "
        "match besides the site URL's own origin.",
    )
    mail_token_ttl: int = Field(
        default=3600,
        ge=60,
        le=30 * 86400,
        description="Seconds a confirmation, recovery or e-mail change link stays valid.",
    )
    flow_state_ttl: int = Field(
        default=300,
        ge=30,
        le=86400,
        description="Seconds a PKCE auth code (from a mailed link's redirect) may wait to be "
        "exchanged at /token?grant_type=pkce.",
    )
    invitation_ttl: int = Field(
        default=7 * 86400,
        ge=60,
        le=90 * 86400,
        description="Seconds a team invitation stays valid.",
    )
    rest_max_rows: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Most rows one /rest/v1 read returns (PostgREST's db-max-rows; Supabase "
        "uses 1000); a larger limit is capped, never an error.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GPTDESK_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="API key of the default provider (also read from OPENAI_API_KEY): with it "
        "or a base URL set, models no configured provider lists go to this OpenAI-compatible "
        "API.",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GPTDESK_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="Base URL of the default provider (also read from OPENAI_BASE_URL; unset: "
        "api.openai.com).",
    )
    llm_timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds the default provider may take to answer (per attempt).",
    )
    llm_max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a failed call to the default provider."
    )
    offline_fallback: bool = Field(
        default=True,
        description="Answer models that no provider serves with the built-in offline model "
        "(free, says it is offline); off: such GPTs answer 503 no_provider.",
    )
    offline_pace_ms: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Milliseconds between the words the fallback offline model streams.",
    )
    chat_max_content_chars: int = Field(
        default=32_000,
        ge=1,
        le=10_000_000,
        description="Longest chat message accepted, in characters.",
    )
    audit_retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="Days audit rows are kept; older ones are purged (an audited action) "
        "every hour. Unset: kept forever.",
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, le=300, description="Seconds a budget webhook may take to answer."
    )
    webhook_allow_private_networks: bool = Field(
        default=False,
        description="Deliver budget webhooks to private, loopback and link-local addresses "
        "(off: only public addresses, so admins cannot aim the server at internal services).",
    )
    storage_backend: Literal["local", "s3"] = Field(
        default="local",
        description="Where file bodies live: local (under <data dir>/storage) or s3.",
    )
    storage_max_file_bytes: int = Field(
        default=5 << 30,
        ge=1,
        description="Largest file accepted by any bucket, in bytes (a bucket's own "
        "file_size_limit can only be lower).",
    )
    storage_s3_bucket: str | None = Field(
        default=None, description="S3 bucket that holds the bodies (storage_backend=s3)."
    )
    storage_s3_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for S3-compatible stores (MinIO, Ceph, R2 …); unset: AWS.",
    )
    storage_s3_region: str | None = Field(default=None, description="S3 region.")
    storage_s3_access_key_id: str | None = Field(
        default=None, description="S3 access key id (unset: boto3's usual credential chain)."
    )
    storage_s3_secret_access_key: SecretStr | None = Field(
        default=None, description="S3 secret access key."
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for mail; unset: mails go to the log and <data dir>/outbox.",
    )
    smtp_port: int = Field(
        default=587, ge=1, le=65535, description="SMTP port (465: TLS from the first byte)."
    )
    smtp_user: str | None = Field(default=None, description="SMTP login name (none: no login).")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(
        default="GPT Desk <no-reply@gptdesk.localhost>", description="Sender of every mail."
    )
    smtp_starttls: bool = Field(
        default=True, description="Upgrade SMTP connections with STARTTLS (fail if impossible)."
    )
    smtp_timeout: float = Field(
        default=10.0, gt=0, le=300, description="Seconds an SMTP connection or reply may take."
    )
    password_min_length: int = Field(
        default=8, ge=6, le=128, description="Shortest password accepted."
    )
    password_required_characters: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated classes every password needs: lower, upper, digit, symbol.",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where rate-limit counters live: memory:// (per process) or redis://HOST:PORT.",
    )
    rate_limit_token_ip: str = Field(
        default="150/5minutes", description="Sign-ins and refreshes (/token) per client IP."
    )
    rate_limit_sign_in_email: str = Field(
        default="10/5minutes", description="Password sign-in attempts per e-mail address."
    )
    rate_limit_signup_ip: str = Field(default="30/hour", description="Sign-ups per client IP.")
    rate_limit_verify_ip: str = Field(
        default="30/5minutes", description="Verifications (/verify) per client IP."
    )
    rate_limit_email: str = Field(
        default="5/hour", description="Mails (recovery and the like) sent to one address."
    )
    rate_limit_recover_ip: str = Field(
        default="30/hour", description="Recovery requests (/recover) per client IP."
    )
    refresh_token_reuse_interval: int = Field(
        default=10,
        ge=0,
        description="Seconds a rotated refresh token may still be presented (lost responses).",
    )
    admin_requires_aal2: bool = Field(
        default=False,
        description="Team admins and super admins act as plain users until their session has "
        "passed MFA (aal2); enforced by PostgreSQL.",
    )
    embedded_pg_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the embedded PostgreSQL (0: a free one)."
    )

    @model_validator(mode="after")
    def _check_s3(self) -> "Settings":
        if self.storage_backend == "s3" and not self.storage_s3_bucket:
            raise ValueError("GPTDESK_STORAGE_S3_BUCKET is needed with GPTDESK_STORAGE_BACKEND=s3")
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
            raise ValueError("must look like postgresql://user:password@host:port/database")
        return value

    @field_validator("password_required_characters", mode="before")
    @classmethod
    def _split_classes(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item.strip().lower() for item in value.split(",") if item.strip()]
        unknown = set(value) - {"lower", "upper", "digit", "symbol"}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown character classes {sorted(unknown)}")
        return value

    @field_validator(
        "rate_limit_token_ip",
        "rate_limit_sign_in_email",
        "rate_limit_signup_ip",
        "rate_limit_verify_ip",
        "rate_limit_email",
        "rate_limit_recover_ip",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_rate(value)  # ValueError names what is wrong
        return value

    @field_validator("cors_origins", "redirect_urls", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("site_url")
    @classmethod
    def _check_site_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("smtp_from")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("must be an address, e.g. 'GPT Desk <desk@example.com>'")
        return value

    @model_validator(mode="after")
    def _check_pool(self) -> "Settings":
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("GPTDESK_DB_POOL_MIN must not exceed GPTDESK_DB_POOL_MAX")
        return self

    @property
    def base_url(self) -> str:
        """The URL printed for people and clients."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"
