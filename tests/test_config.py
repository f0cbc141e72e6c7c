"""Settings: environment parsing, validation, and that the README documents every one."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from gptdesk.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [
        f"GPTDESK_{name.upper()}"
        for name in Settings.model_fields
        if f"`GPTDESK_{name.upper()}`" not in text
    ]
    assert not missing, f"README's configuration table lacks {missing}"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTDESK_PORT", "9001")
    monkeypatch.setenv("GPTDESK_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("GPTDESK_DATABASE_URL", "postgresql://u:p@db:5432/x")
    settings = Settings()
    assert settings.port == 9001
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.database_url == "postgresql://u:p@db:5432/x"


def test_explicit_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTDESK_PORT", "9001")
    assert Settings(port=9002).port == 9002


@pytest.mark.parametrize("url", ["mysql://u@h/d", "postgresql:///nohost", "not a url"])
def test_database_url_must_be_postgresql(url: str) -> None:
    with pytest.raises(ValidationError, match="must look like postgresql://"):
        Settings(database_url=url)


def test_empty_database_url_means_embedded() -> None:
    assert Settings(database_url="").database_url is None


def test_base_url() -> None:
    assert Settings(host="0.0.0.0", port=8080).base_url == "http://127.0.0.1:8080"
    assert Settings(public_url="https://desk.example/").base_url == "https://desk.example"


def test_pool_min_cannot_exceed_max() -> None:
    with pytest.raises(ValidationError, match="must not exceed"):
        Settings(db_pool_min=5, db_pool_max=2)
