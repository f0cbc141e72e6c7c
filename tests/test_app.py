"""The live server over real HTTP: health, CORS, and that it runs requests as the authenticator."""

import httpx

from gptdesk import __version__
from gptdesk.db.migrate import discover, migrations_dir
from tests.conftest import LiveServer


def test_health_reports_database_and_migrations(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "ok",
        "version": __version__,
        "database": "ok",
        "migrations": {"current": True, "pending": []},
    }
    assert len(discover(migrations_dir())) > 0


def test_cors_preflight_is_answered(server: LiveServer) -> None:
    response = httpx.options(
        f"{server.url}/health",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "apikey, authorization, x-client-info",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://localhost:3000")
    assert "apikey" in response.headers["access-control-allow-headers"].lower()


def test_unknown_path_is_a_404_not_a_500(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/no/such/thing").status_code == 404
