"""Configuration comes from the environment through typed helpers that fail loudly."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from belonging import env


def test_booleans_accept_only_clear_values(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env.env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env.env_bool("X_FLAG", True) is False
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env.env_bool("X_FLAG", False)


def test_integers_are_checked(monkeypatch):
    monkeypatch.setenv("X_INT", "12")
    assert env.env_int("X_INT", 1) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ImproperlyConfigured):
        env.env_int("X_INT", 1, minimum=0)


def test_secrets_come_from_a_file_or_fail(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.env_secret("X_SECRET") == "s3cr3t"
    monkeypatch.delenv("X_SECRET_FILE")
    monkeypatch.delenv("X_SECRET", raising=False)
    with pytest.raises(ImproperlyConfigured):
        env.env_secret("X_SECRET")


def test_dotenv_lines_fill_only_what_is_unset(monkeypatch, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nX_A=1   # inline comment\nX_B="quoted # not a comment"\nX_C=from-file\nX_D=    # only a comment\n')
    monkeypatch.delenv("X_A", raising=False)
    monkeypatch.delenv("X_D", raising=False)
    monkeypatch.delenv("X_B", raising=False)
    monkeypatch.setenv("X_C", "from-env")
    env.load_dotenv(dotenv)
    import os

    assert os.environ["X_A"] == "1"
    assert os.environ["X_B"] == "quoted # not a comment"
    assert os.environ["X_C"] == "from-env"
    assert os.environ["X_D"] == ""
    monkeypatch.delenv("X_D")
    monkeypatch.delenv("X_A")
    monkeypatch.delenv("X_B")


def test_a_malformed_dotenv_line_is_refused(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("JUSTAWORD\n")
    with pytest.raises(ImproperlyConfigured, match="KEY=VALUE"):
        env.load_dotenv(dotenv)


def test_production_refuses_the_development_secret(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import belonging.settings"],
        env={"DEBUG": "false", "PATH": "/usr/bin:/bin", "PYTHONPATH": "."},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    for weak in ("change-me", "short"):
        result = subprocess.run(
            [sys.executable, "-c", "import belonging.settings"],
            env={"DEBUG": "false", "SECRET_KEY": weak, "PATH": "/usr/bin:/bin", "PYTHONPATH": "."},
            capture_output=True,
            text=True,
        )
        assert "SECRET_KEY must be set" in result.stderr
