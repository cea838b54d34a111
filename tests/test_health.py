from pathlib import Path

from flask.testing import FlaskClient
from helpers import make_app


def test_healthy(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "up"


def test_database_down_is_503(tmp_path: Path) -> None:
    app = make_app("postgresql+psycopg://nobody:x@127.0.0.1:9/none?connect_timeout=2", tmp_path)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "down"
