"""Settings come from the environment (prefix CBDIALER_) or a config file, never from code.

The names of docs/design.md section 12 are a contract. Secrets are SecretStr so that no repr or log line
shows them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, PostgresDsn, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CBDIALER_", extra="forbid")

    database_url: PostgresDsn = Field(
        default=PostgresDsn("postgresql://postgres@127.0.0.1:5432/cbdialer"),
        description="PostgreSQL URL of the callback book",
    )
    ami_host: str = Field(default="127.0.0.1", description="Asterisk AMI host")
    ami_port: int = Field(default=5038, ge=1, le=65535, description="Asterisk AMI port")
    ami_username: str = Field(default="cbdialer", description="AMI user (manager.conf section)")
    ami_secret: SecretStr = Field(default=SecretStr(""), description="AMI secret")
    ami_ping_interval: float = Field(default=2.0, gt=0, description="seconds between link checks")
    ami_ping_timeout: float = Field(default=3.0, gt=0, description="seconds a Ping may take before the link is dropped")
    ami_action_timeout: float = Field(default=5.0, gt=0, description="seconds an AMI action may take")
    ami_tls: bool = Field(default=False, description="connect to AMI over TLS (Asterisk's tlsenable port, "
                          "usually 5039)")
    ami_tls_ca_file: Path | None = Field(default=None, description="the CA certificate(s) (PEM) that Asterisk's "
                                         "TLS certificate is verified with (unset: the system's default CAs)")
    ami_tls_check_hostname: bool = Field(default=True, description="check that Asterisk's certificate names "
                                         "CBDIALER_AMI_HOST (the certificate itself is always verified)")
    lease_seconds: float = Field(default=30.0, ge=1, description="how long a claimed callback stays this "
                                 "process's without a heartbeat; a dead process's callbacks are taken over after it")
    http_host: str = Field(default="127.0.0.1", description="admin API bind address")
    http_port: int = Field(default=8080, ge=0, le=65535, description="admin API port")
    http_tls_cert_file: Path | None = Field(default=None, description="serve the admin API over HTTPS with this "
                                            "certificate chain (PEM; with CBDIALER_HTTP_TLS_KEY_FILE)")
    http_tls_key_file: Path | None = Field(default=None, description="the private key (PEM) of "
                                           "CBDIALER_HTTP_TLS_CERT_FILE")
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                                       description="ISO 3166 country for numbers given without +, e.g. GB "
                                       "(unset: numbers must be international)")
    dial_contexts: str = Field(default="", description="comma-separated dialplan contexts that a Local/ dial "
                               "string (a queue's customer leg, an agent's phone) may reach; empty: only "
                               "cbdialer-sim-customers, the sandbox's")
    agi_host: str = Field(default="127.0.0.1", description="FastAGI bind address: the caller-callback IVR that "
                          "Asterisk reaches with AGI(agi://HOST:PORT/caller-callback)")
    agi_port: int = Field(default=4573, ge=0, le=65535, description="FastAGI port (0: any free port)")
    asterisk_recordings_dir: str = Field(default="/var/spool/asterisk/cbdialer-recordings", pattern=r"^/\S+$",
                                         description="where Asterisk writes the callers' recordings (a path on "
                                         "the Asterisk host; the IVR records there, the preview plays from there)")
    recordings_dir: Path | None = Field(default=None, description="the same directory as this host sees it: the "
                                        "admin API serves the recordings from here (unset: it serves none)")
    session_secret: SecretStr | None = Field(default=None, min_length=16, description="the key the pages' session "
                                             "cookies are signed with (at least 16 characters; the same on every "
                                             "node behind one address); unset: a random one per process, so "
                                             "that a restart logs everyone out")
    session_hours: float = Field(default=12.0, gt=0, le=24 * 31, description="how long a page's login lasts")
    log_format: Literal["console", "json"] = Field(default="console", description="console or json")
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info")

    @property
    def allowed_dial_contexts(self) -> frozenset[str] | None:
        """The contexts of CBDIALER_DIAL_CONTEXTS, or None (the services' default) when it is empty."""
        named = frozenset(part.strip() for part in self.dial_contexts.split(",") if part.strip())
        return named or None

    @model_validator(mode="after")
    def _http_tls_pair(self) -> Settings:
        if (self.http_tls_cert_file is None) != (self.http_tls_key_file is None):
            given, missing = (("CBDIALER_HTTP_TLS_CERT_FILE", "CBDIALER_HTTP_TLS_KEY_FILE")
                              if self.http_tls_key_file is None else
                              ("CBDIALER_HTTP_TLS_KEY_FILE", "CBDIALER_HTTP_TLS_CERT_FILE"))
            raise ValueError(f"{given} is set but {missing} is not: HTTPS needs both (or neither, for plain HTTP)")
        return self

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: PostgresDsn) -> PostgresDsn:
        if value.scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values, then the environment, then the config file (if one was given).
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from the environment over an optional TOML config file (keys as in the environment,
    lower case and without the prefix: `ami_secret = "..."`). A missing file is an error naming it."""
    if config_file is None:
        return Settings()
    if not config_file.is_file():
        raise SettingsError(f"config file {config_file}: not found")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    try:
        return Settings.model_validate(FileSettings().model_dump())
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {config_file}: {exc}") from exc


class SettingsError(Exception):
    """A configuration problem, stated for the person who runs cbdialer."""
