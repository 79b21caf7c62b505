"""Settings: the names of docs/design.md section 12, environment over config file, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cbdialer.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "AMI_HOST", "AMI_PORT", "HTTP_HOST", "HTTP_PORT"):
        monkeypatch.delenv(f"CBDIALER_{name}", raising=False)
    settings = Settings()
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.ami_port == 5038


def test_environment_names_of_section_12(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CBDIALER_DATABASE_URL", "postgresql://u@db.example:5433/cb")
    monkeypatch.setenv("CBDIALER_AMI_HOST", "pbx.example")
    monkeypatch.setenv("CBDIALER_AMI_PORT", "5039")
    monkeypatch.setenv("CBDIALER_AMI_USERNAME", "dialer")
    monkeypatch.setenv("CBDIALER_AMI_SECRET", "s3cret-value")
    monkeypatch.setenv("CBDIALER_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("CBDIALER_HTTP_PORT", "9090")
    settings = Settings()
    assert settings.database_url.hosts()[0]["host"] == "db.example" and settings.database_url.path == "/cb"
    assert (settings.ami_host, settings.ami_port, settings.ami_username) == ("pbx.example", 5039, "dialer")
    assert settings.ami_secret.get_secret_value() == "s3cret-value"
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 9090)
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.model_dump())


def test_config_file_under_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cbdialer.toml"
    config.write_text('ami_host = "from-file"\nami_port = 6000\nami_secret = "file-secret"\n')
    monkeypatch.setenv("CBDIALER_AMI_PORT", "7000")
    settings = load_settings(config)
    assert settings.ami_host == "from-file"
    assert settings.ami_port == 7000
    assert settings.ami_secret.get_secret_value() == "file-secret"


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="nope.toml: not found"):
        load_settings(tmp_path / "nope.toml")


def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CBDIALER_AMI_PORT", "seventy")
    with pytest.raises(ValidationError, match="ami_port"):
        Settings()
    monkeypatch.setenv("CBDIALER_AMI_PORT", "5038")
    monkeypatch.setenv("CBDIALER_DATABASE_URL", "mysql://x/y")
    with pytest.raises(ValidationError, match="database_url"):
        Settings()
