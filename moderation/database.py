"""Database engine settings that the URL alone cannot express."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event

from .extensions import db


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    busy_timeout = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])

    @event.listens_for(engine, "connect")
    def sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
        """WAL lets readers go on while one writer writes; the busy timeout makes a writer wait
        for another instead of failing at once; SQLite enforces foreign keys only when asked.
        ``synchronous`` stays at its FULL default: an acknowledged comment survives a power cut."""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # Python's sqlite3 module (before 3.12) opens transactions on its own, late, and not
        # around SAVEPOINTs; hand transaction control to SQLAlchemy so savepoints and
        # rollbacks mean what they say.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def sqlite_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")
