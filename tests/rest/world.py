"""The RLS world the REST tests run against: its ids, and its users' tokens for a server.

The rows are tests/rls/world.sql's; the `world` fixture (tests/rest/conftest.py) loads them
for a module and gives each user a live session and an access token.
"""

from dataclasses import dataclass
from pathlib import Path

from tests.conftest import LiveServer

RLS = Path(__file__).parent.parent / "rls"
TEAM_A = "10000000-0000-4000-8000-00000000000a"
TEAM_B = "10000000-0000-4000-8000-00000000000b"
USERS = {
    "user_a": "20000000-0000-4000-8000-0000000000a1",
    "admin_a": "20000000-0000-4000-8000-0000000000a2",
    "user_b": "20000000-0000-4000-8000-0000000000b1",
    "super_admin": "20000000-0000-4000-8000-000000000005",
}


@dataclass(frozen=True)
class World:
    """The world's access tokens by actor, and the server they are good for."""

    server: LiveServer
    tokens: dict[str, str]

    def headers(self, actor: str) -> dict[str, str]:
        """The headers a client of `actor` sends (anon and service_role: the project key)."""
        if actor == "anon":
            key = self.server.anon_key
            return {"apikey": key, "Authorization": f"Bearer {key}"}
        if actor == "service_role":
            key = self.server.service_role_key
            return {"apikey": key, "Authorization": f"Bearer {key}"}
        return {"apikey": self.server.anon_key, "Authorization": f"Bearer {self.tokens[actor]}"}
