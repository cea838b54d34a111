from pathlib import Path

import pytest

from moderation import create_app


def test_secret_is_generated_once_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODERATION_SECRET_KEY", raising=False)
    first = create_app({"INSTANCE_PATH": tmp_path})
    second = create_app({"INSTANCE_PATH": tmp_path})
    secret = (tmp_path / "secret_key").read_text().strip()
    assert len(secret) >= 48
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == secret
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_each_installation_gets_its_own_secret(tmp_path: Path) -> None:
    a = create_app({"INSTANCE_PATH": tmp_path / "a"}).config["SECRET_KEY"]
    b = create_app({"INSTANCE_PATH": tmp_path / "b"}).config["SECRET_KEY"]
    assert a != b


def test_order_defaults_instance_file_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.py").write_text(
        "MAX_BODY_LENGTH = 1000\nLIST_MAX_AGE = 30\nSECRET_KEY = 'from-file'\n"
    )
    monkeypatch.setenv("MODERATION_LIST_MAX_AGE", "60")
    monkeypatch.setenv("MODERATION_DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    app = create_app({"INSTANCE_PATH": tmp_path})
    assert app.config["MAX_BODY_LENGTH"] == 1000  # instance file over default
    assert app.config["LIST_MAX_AGE"] == 60  # environment over instance file
    assert app.config["SECRET_KEY"] == "from-file"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/x.sqlite3"
    assert not (tmp_path / "secret_key").exists()


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": tmp_path})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'moderation.sqlite3'}"


def test_sqlite_runs_with_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    from sqlalchemy import text

    from moderation.extensions import db

    app = create_app({"INSTANCE_PATH": tmp_path, "SQLITE_BUSY_TIMEOUT_MS": 1234})
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 1234
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.session.remove()
