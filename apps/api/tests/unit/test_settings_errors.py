"""A bad setting is reported by the name the user set it under, with its value unless the value is a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings, describe_invalid_settings, setting_name


def invalid(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)  # type: ignore[call-arg]
    return describe_invalid_settings(raised.value)


def test_each_bad_setting_is_named_with_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    said = invalid(monkeypatch, SELLERCOLLECTION_LOG_LEVEL="LOUD", SELLERCOLLECTION_DB_POOL_MAX_SIZE="zero")
    assert "SELLERCOLLECTION_LOG_LEVEL='LOUD': Input should be 'DEBUG'" in said
    assert "SELLERCOLLECTION_DB_POOL_MAX_SIZE='zero'" in said


def test_a_secret_setting_is_named_but_its_value_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    said = invalid(monkeypatch, SELLERCOLLECTION_SMTP_URL="http://mailer:hunter2@example.com")
    assert "SELLERCOLLECTION_SMTP_URL" in said and "smtp://" in said
    assert "hunter2" not in said


def test_log_level_takes_any_case_and_aliases_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELLERCOLLECTION_LOG_LEVEL", "debug")
    assert Settings(_env_file=None).log_level == "DEBUG"  # type: ignore[call-arg]
    assert setting_name("database_url") == "DATABASE_URL"
    assert setting_name("oxylabs_password") == "OXYLABS_PASSWORD"
    assert setting_name("log_level") == "SELLERCOLLECTION_LOG_LEVEL"
