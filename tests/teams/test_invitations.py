"""Team invitations end to end: an admin invites over /api/v1, the mail arrives over SMTP,
the invitee signs up with supabase-py and lands in the team with the invited role.
"""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import Client, ClientOptions, create_client

from tests.conftest import LiveServer, MigratedDatabase, running_server
from tests.helpers import (
    PASSWORD,
    SITE,
    VERSION,
    generous_limits,
    mail_server_settings,
    new_email,
    owner_query,
)
from tests.mailbox import Mailbox, code_in, link_in


@dataclass(frozen=True)
class Member:
    id: str
    email: str
    token: str


@dataclass(frozen=True)
class World:
    """Two teams, an admin and a member of the first, an admin of the second, a super admin."""

    team: str
    other_team: str
    admin: Member
    member: Member
    other_admin: Member
    super_admin: Member


@pytest.fixture(scope="module")
def desk(db: MigratedDatabase, mailbox: Mailbox) -> Iterator[LiveServer]:
    """Sign-up closed (the default) and needing confirmation; mail to the mailbox."""
    with running_server(
        db,
        **mail_server_settings(mailbox, **generous_limits("signup_ip", "token_ip")),
    ) as live:
        yield live


def make_member(desk: LiveServer, app_metadata: dict[str, str], prefix: str) -> Member:
    """A confirmed account (admin API), signed in."""
    email = new_email(prefix)
    made = httpx.post(
        f"{desk.url}/auth/v1/admin/users",
        headers={"apikey": desk.anon_key, "Authorization": f"Bearer {desk.service_role_key}"},
        json={
            "email": email,
            "password": PASSWORD,
            "email_confirm": True,
            "app_metadata": app_metadata,
        },
    )
    assert made.status_code == 200, made.text
    session = httpx.post(
        f"{desk.url}/auth/v1/token?grant_type=password",
        headers={"apikey": desk.anon_key},
        json={"email": email, "password": PASSWORD},
    ).json()
    return Member(made.json()["id"], email, session["access_token"])


@pytest.fixture(scope="module")
def world(desk: LiveServer, db: MigratedDatabase) -> World:
    team, other = (
        str(owner_query(db, "insert into public.teams (name) values ($1) returning id", name)[0][0])
        for name in ("Research", "Sales")
    )
    return World(
        team=team,
        other_team=other,
        admin=make_member(desk, {"team_id": team, "role": "admin"}, "admin"),
        member=make_member(desk, {"team_id": team, "role": "user"}, "member"),
        other_admin=make_member(desk, {"team_id": other, "role": "admin"}, "other-admin"),
        super_admin=make_member(desk, {"role": "super_admin"}, "super"),
    )


@pytest.fixture
def api(desk: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{desk.url}/api/v1", headers={"apikey": desk.anon_key}) as c:
        yield c


@pytest.fixture
def auth(desk: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{desk.url}/auth/v1", headers={"apikey": desk.anon_key, **VERSION}
    ) as c:
        yield c


@pytest.fixture
def client(desk: LiveServer) -> Iterator[Client]:
    with httpx.Client() as transport:
        yield create_client(desk.url, desk.anon_key, options=ClientOptions(httpx_client=transport))


def bearer(who: Member | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token if isinstance(who, Member) else who}"}


def invite(
    api: httpx.Client, world: World, email: str, role: str = "user", by: Member | None = None
) -> dict[str, Any]:
    made = api.post(
        f"/teams/{world.team}/invitations",
        json={"email": email, "role": role, "redirect_to": f"{SITE}/join"},
        headers=bearer(by or world.admin),
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def api_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.json()
    assert response.json()["error"]["message"]


def auth_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.json()


def accounts(db: MigratedDatabase, email: str) -> int:
    return int(
        owner_query(db, "select count(*) from auth.users where lower(email) = $1", email)[0][0]
    )


def test_an_invitee_signs_up_into_the_team(
    api: httpx.Client,
    client: Client,
    world: World,
    mailbox: Mailbox,
    desk: LiveServer,
    db: MigratedDatabase,
) -> None:
    email = new_email("invitee")
    created = invite(api, world, email)
    assert created["status"] == "pending" and created["role"] == "user"
    assert created["invited_by"] == world.admin.id and created["team_id"] == world.team
    assert "token" not in created and "token_hash" not in created

    mail = mailbox.wait_for(email, "invitation")
    assert mail["Subject"] == "Join Research on GPT Desk"
    link, token = link_in(mail), code_in(mail)
    assert link.startswith(f"{SITE}/join?")
    assert parse_qs(urlsplit(link).query) == {"invitation_token": [token], "email": [email]}
    assert world.admin.email in str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]

    # Open sign-up is off on this server; the invitation opens it.
    joined = client.auth.sign_up(
        {
            "email": email,
            "password": PASSWORD,
            "options": {"data": {"invitation_token": token, "full_name": "Nina Newcomer"}},
        }
    )
    assert joined.session is not None and joined.user is not None
    user = joined.user
    assert "invitation_token" not in user.user_metadata
    assert user.user_metadata["full_name"] == "Nina Newcomer"
    assert user.app_metadata["team_id"] == world.team and user.app_metadata["role"] == "user"
    assert user.email_confirmed_at is not None
    assert owner_query(
        db, "select team_id::text, role::text, full_name from public.users where id = $1", user.id
    ) == [(world.team, "user", "Nina Newcomer")]

    [listed] = [
        i
        for i in api.get(f"/teams/{world.team}/invitations", headers=bearer(world.admin)).json()
        if i["id"] == created["id"]
    ]
    assert listed["status"] == "accepted" and listed["accepted_by"] == user.id
    team_actions = {
        row[0]
        for row in owner_query(
            db,
            "select action from public.audit_logs where resource_id = $1 "
            "and details ->> 'invitation_id' = $2",
            world.team,
            created["id"],
        )
    }
    assert team_actions == {"team.invitation_created", "team.member_joined"}
    [(actor, team_of_row)] = owner_query(
        db,
        "select user_id::text, team_id::text from public.audit_logs "
        "where action = 'team.member_joined' and details ->> 'invitation_id' = $1",
        created["id"],
    )
    assert (actor, team_of_row) == (user.id, world.team)

    # Used once: another address cannot use it again.
    client.auth.sign_out()
    again = httpx.post(
        f"{desk.url}/auth/v1/signup",
        headers={"apikey": desk.anon_key, **VERSION},
        json={
            "email": new_email("late"),
            "password": PASSWORD,
            "data": {"invitation_token": token},
        },
    )
    auth_error(again, 422, "invitation_already_used")


def test_an_admin_invitation_makes_an_admin(
    api: httpx.Client, auth: httpx.Client, world: World, mailbox: Mailbox, db: MigratedDatabase
) -> None:
    email = new_email("new-admin")
    invite(api, world, email, role="admin", by=world.super_admin)
    token = code_in(mailbox.wait_for(email, "invitation"))
    session = auth.post(
        "/signup", json={"email": email, "password": PASSWORD, "data": {"invitation_token": token}}
    ).json()
    assert owner_query(
        db,
        "select role::text, team_id::text from public.users where id = $1",
        session["user"]["id"],
    ) == [("admin", world.team)]


def test_a_failed_invitation_sign_up_creates_nothing(
    api: httpx.Client, auth: httpx.Client, world: World, mailbox: Mailbox, db: MigratedDatabase
) -> None:
    def sign_up(email: str, token: object, password: str = PASSWORD) -> httpx.Response:
        return auth.post(
            "/signup",
            json={"email": email, "password": password, "data": {"invitation_token": token}},
        )

    unknown = new_email("unknown")
    auth_error(sign_up(unknown, secrets.token_urlsafe(32)), 422, "invitation_not_found")
    auth_error(sign_up(unknown, 5), 400, "validation_failed")

    invited, stranger = new_email("invited"), new_email("stranger")
    created = invite(api, world, invited)
    token = code_in(mailbox.wait_for(invited, "invitation"))
    auth_error(sign_up(stranger, token), 422, "invitation_email_mismatch")
    auth_error(sign_up(invited, token, password="short"), 422, "weak_password")

    owner_query(
        db,
        "update public.team_invitations set created_at = now() - interval '8 days', "
        "expires_at = now() - interval '1 day' where id = $1",
        created["id"],
    )
    auth_error(sign_up(invited, token), 422, "invitation_expired")

    revoked_email = new_email("revoked")
    to_revoke = invite(api, world, revoked_email)
    revoked_token = code_in(mailbox.wait_for(revoked_email, "invitation"))
    gone = api.delete(
        f"/teams/{world.team}/invitations/{to_revoke['id']}", headers=bearer(world.admin)
    )
    assert gone.status_code == 204
    auth_error(sign_up(revoked_email, revoked_token), 422, "invitation_revoked")

    for email in (unknown, invited, stranger, revoked_email):
        assert accounts(db, email) == 0, email
    assert owner_query(
        db,
        "select accepted_at, revoked_at is not null from public.team_invitations where id = $1",
        created["id"],
    ) == [(None, False)]


def test_without_an_invitation_sign_up_stays_closed(auth: httpx.Client) -> None:
    closed = auth.post("/signup", json={"email": new_email("walk-in"), "password": PASSWORD})
    auth_error(closed, 422, "signup_disabled")


def test_who_may_manage_a_team_s_invitations(
    api: httpx.Client, desk: LiveServer, world: World
) -> None:
    path = f"/teams/{world.team}/invitations"
    body = {"email": new_email("x"), "role": "user"}
    api_error(api.post(path, json=body), 401, "not_authenticated")
    api_error(api.post(path, json=body, headers=bearer("garbage")), 401, "invalid_token")
    api_error(api.post(path, json=body, headers=bearer(desk.anon_key)), 401, "not_authenticated")
    no_key = httpx.post(f"{desk.url}/api/v1{path}", json=body, headers=bearer(world.admin))
    assert no_key.status_code == 401 and no_key.json()["message"] == "No API key found in request"

    for outsider in (world.member, world.other_admin):
        api_error(api.post(path, json=body, headers=bearer(outsider)), 403, "forbidden")
        api_error(api.get(path, headers=bearer(outsider)), 403, "forbidden")
        api_error(
            api.delete(f"{path}/{secrets.token_hex(16)}", headers=bearer(outsider)),
            403,
            "forbidden",
        )

    by_super = api.post(path, json=body, headers=bearer(world.super_admin))
    assert by_super.status_code == 201
    assert by_super.json()["invited_by"] == world.super_admin.id
    by_service = api.post(
        path, json={"email": new_email("svc")}, headers=bearer(desk.service_role_key)
    )
    assert by_service.status_code == 201 and by_service.json()["invited_by"] is None
    listed = {i["id"] for i in api.get(path, headers=bearer(world.admin)).json()}
    assert {by_super.json()["id"], by_service.json()["id"]} <= listed

    missing = f"/teams/{'0' * 8}-0000-4000-8000-{'0' * 12}/invitations"
    api_error(api.get(missing, headers=bearer(world.super_admin)), 404, "team_not_found")
    api_error(
        api.post(missing, json=body, headers=bearer(world.super_admin)), 404, "team_not_found"
    )
    api_error(
        api.get("/teams/not-a-uuid/invitations", headers=bearer(world.admin)), 404, "team_not_found"
    )


def test_a_signed_out_admin_s_token_is_refused(
    api: httpx.Client, auth: httpx.Client, desk: LiveServer, world: World
) -> None:
    admin = make_member(desk, {"team_id": world.team, "role": "admin"}, "leaving-admin")
    path = f"/teams/{world.team}/invitations"
    # (Signed out before its first use here: a live session is remembered for seconds.)
    assert auth.post("/logout", headers=bearer(admin)).status_code == 204
    api_error(api.get(path, headers=bearer(admin)), 401, "invalid_token")


def test_one_pending_invitation_per_address(
    api: httpx.Client, world: World, db: MigratedDatabase
) -> None:
    email = new_email("twice")
    first = invite(api, world, email)
    path = f"/teams/{world.team}/invitations"
    api_error(
        api.post(path, json={"email": email.upper()}, headers=bearer(world.admin)),
        409,
        "invitation_exists",
    )
    # Once the first has expired, inviting again replaces it.
    owner_query(
        db,
        "update public.team_invitations set created_at = now() - interval '8 days', "
        "expires_at = now() - interval '1 day' where id = $1",
        first["id"],
    )
    second = invite(api, world, email)
    statuses = {i["id"]: i["status"] for i in api.get(path, headers=bearer(world.admin)).json()}
    assert statuses[first["id"]] == "revoked" and statuses[second["id"]] == "pending"
    # And after revoking, again.
    assert api.delete(f"{path}/{second['id']}", headers=bearer(world.admin)).status_code == 204
    invite(api, world, email)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"email": "not-an-address"}', 422, "invalid_email"),
        (b"{}", 422, "invalid_email"),
        (b'{"email": "a@example.com", "role": "super_admin"}', 422, "invalid_role"),
        (b'{"email": "a@example.com", "role": 1}', 422, "invalid_role"),
        (b'{"email": "a@example.com", "redirect_to": 7}', 422, "invalid_redirect_to"),
        (b"{not json", 400, "invalid_json"),
        (b"[]", 400, "invalid_json"),
    ],
)
def test_invalid_invitations(
    api: httpx.Client, world: World, body: bytes, status: int, code: str
) -> None:
    answer = api.post(
        f"/teams/{world.team}/invitations",
        content=body,
        headers={**bearer(world.admin), "content-type": "application/json"},
    )
    api_error(answer, status, code)


def test_revoking(
    api: httpx.Client, world: World, mailbox: Mailbox, auth: httpx.Client, db: MigratedDatabase
) -> None:
    path = f"/teams/{world.team}/invitations"
    api_error(
        api.delete(f"{path}/{'1' * 8}-1111-4111-8111-{'1' * 12}", headers=bearer(world.admin)),
        404,
        "invitation_not_found",
    )
    api_error(api.delete(f"{path}/nope", headers=bearer(world.admin)), 404, "invitation_not_found")

    email = new_email("revokee")
    pending = invite(api, world, email)
    assert api.delete(f"{path}/{pending['id']}", headers=bearer(world.admin)).status_code == 204
    assert api.delete(f"{path}/{pending['id']}", headers=bearer(world.admin)).status_code == 204
    revoked_rows = owner_query(
        db,
        "select count(*) from public.audit_logs where action = 'team.invitation_revoked' "
        "and details ->> 'invitation_id' = $1",
        pending["id"],
    )
    assert revoked_rows == [(1,)]

    accepted_email = new_email("accepted")
    accepted = invite(api, world, accepted_email)
    token = code_in(mailbox.wait_for(accepted_email, "invitation"))
    signed_up = auth.post(
        "/signup",
        json={"email": accepted_email, "password": PASSWORD, "data": {"invitation_token": token}},
    )
    assert signed_up.status_code == 200
    api_error(
        api.delete(f"{path}/{accepted['id']}", headers=bearer(world.admin)),
        409,
        "invitation_already_accepted",
    )
