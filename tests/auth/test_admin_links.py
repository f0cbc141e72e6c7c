"""The admin API's links and invitations: supabase-py's `generate_link` and
`invite_user_by_email` against a live server, and their errors as raw HTTP."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from tests.conftest import LiveServer, MigratedDatabase, running_server
from tests.helpers import (
    PASSWORD,
    SITE,
    VERSION,
    audit_actions,
    expect_auth_error,
    fragment,
    generous_limits,
    mail_server_settings,
    new_email,
    owner_query,
)
from tests.mailbox import Mailbox, link_in


@pytest.fixture(scope="module")
def link_server(db: MigratedDatabase, mailbox: Mailbox) -> Iterator[LiveServer]:
    """Invitation-only sign-up (the default), mail over SMTP to the mailbox."""
    with running_server(
        db,
        **mail_server_settings(mailbox, **generous_limits("token_ip", "verify_ip")),
    ) as live:
        yield live


@pytest.fixture
def service(link_server: LiveServer) -> Iterator[Client]:
    """A client holding the service-role key, as a trusted backend would."""
    with httpx.Client() as transport:
        yield create_client(
            link_server.url,
            link_server.service_role_key,
            options=ClientOptions(httpx_client=transport),
        )


@pytest.fixture
def anon(link_server: LiveServer) -> Iterator[Client]:
    with httpx.Client() as transport:
        yield create_client(
            link_server.url, link_server.anon_key, options=ClientOptions(httpx_client=transport)
        )


@pytest.fixture
def admin_http(link_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{link_server.url}/auth/v1",
        headers={
            "apikey": link_server.anon_key,
            "Authorization": f"Bearer {link_server.service_role_key}",
            **VERSION,
        },
    ) as client:
        yield client


def test_invite_user_by_email(
    service: Client, anon: Client, mailbox: Mailbox, link_server: LiveServer, db: MigratedDatabase
) -> None:
    email = new_email("invited")
    invited = service.auth.admin.invite_user_by_email(
        email, {"data": {"name": "Ivy Invited"}, "redirect_to": f"{SITE}/welcome"}
    ).user
    assert invited.email == email and invited.invited_at is not None
    assert invited.email_confirmed_at is None and invited.confirmation_sent_at is not None
    assert invited.user_metadata["name"] == "Ivy Invited"
    # The profile is made with the account, in no team, as a plain user.
    assert owner_query(
        db, "select full_name, role::text from public.users where id = $1", invited.id
    ) == [("Ivy Invited", "user")]

    mail = mailbox.wait_for(email, "invite")
    assert mail["Subject"] == "You have been invited to GPT Desk"
    link = link_in(mail)
    params = parse_qs(urlsplit(link).query)
    assert params["type"] == ["invite"] and params["redirect_to"] == [f"{SITE}/welcome"]
    opened = httpx.get(link)
    assert opened.status_code == 303
    session = fragment(opened.headers["location"])
    assert session["type"] == "invite" and session["access_token"]

    # Signed in by the link, the invitee chooses a password.
    chose = httpx.put(
        f"{link_server.url}/auth/v1/user",
        headers={
            "apikey": link_server.anon_key,
            "Authorization": f"Bearer {session['access_token']}",
        },
        json={"password": PASSWORD},
    )
    assert chose.status_code == 200 and chose.json()["email_confirmed_at"]
    assert anon.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert audit_actions(db, invited.id)[:3] == [
        "user.invited",
        "user.email_confirmed",
        "user.password_changed",
    ]


def test_inviting_a_confirmed_address_is_refused(service: Client) -> None:
    email = new_email("taken")
    service.auth.admin.create_user({"email": email, "password": PASSWORD, "email_confirm": True})
    with pytest.raises(AuthApiError) as refused:
        service.auth.admin.invite_user_by_email(email)
    assert (refused.value.status, refused.value.code) == (422, "email_exists")


def test_inviting_again_sends_a_new_link(
    service: Client, mailbox: Mailbox, admin_http: httpx.Client
) -> None:
    email = new_email("twice")
    first = service.auth.admin.invite_user_by_email(email).user
    # Mail goes out in the background: take the first before asking for the second, so
    # the two cannot arrive in the other order.
    old = link_in(mailbox.wait_for(email, "invite", count=1))
    second = service.auth.admin.invite_user_by_email(email).user
    assert first.id == second.id
    new = link_in(mailbox.wait_for(email, "invite", count=2))
    [old_token] = parse_qs(urlsplit(old).query)["token"]
    [new_token] = parse_qs(urlsplit(new).query)["token"]
    verify = admin_http.post("/verify", json={"type": "invite", "token_hash": old_token})
    expect_auth_error(verify, 403, "otp_expired")
    assert admin_http.post("/verify", json={"type": "invite", "token_hash": new_token}).is_success


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_failed"),
        ({"email": "nope"}, 400, "email_address_invalid"),
        ({"email": "x@example.com", "data": "nope"}, 400, "validation_failed"),
    ],
)
def test_bad_invitations(
    admin_http: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    expect_auth_error(admin_http.post("/invite", json=body), status, code)


def test_links_and_invitations_are_for_the_service_role(link_server: LiveServer) -> None:
    headers = {"apikey": link_server.anon_key, **VERSION}
    for path in ("/invite", "/admin/generate_link"):
        url = f"{link_server.url}/auth/v1{path}"
        body = {"email": new_email("link"), "type": "invite"}
        expect_auth_error(httpx.post(url, headers=headers, json=body), 401, "no_authorization")
        as_anon = {**headers, "Authorization": f"Bearer {link_server.anon_key}"}
        expect_auth_error(httpx.post(url, headers=as_anon, json=body), 403, "not_admin")
        assert httpx.post(url, json=body).status_code == 401  # no project key at all


def test_generate_signup_link(
    service: Client,
    anon: Client,
    mailbox: Mailbox,
    link_server: LiveServer,
    db: MigratedDatabase,
) -> None:
    email = new_email("signup")
    made = service.auth.admin.generate_link(
        {
            "type": "signup",
            "email": email,
            "password": PASSWORD,
            "options": {"data": {"name": "Sam Signup"}, "redirect_to": f"{SITE}/hello"},
        }
    )
    props, user = made.properties, made.user
    assert props.verification_type == "signup" and props.redirect_to == f"{SITE}/hello"
    assert props.action_link.startswith(f"{link_server.url}/auth/v1/verify?token=")
    params = parse_qs(urlsplit(props.action_link).query)
    assert params["type"] == ["signup"] and params["redirect_to"] == [f"{SITE}/hello"]
    assert params["token"] == [props.hashed_token] and props.email_otp == props.hashed_token
    assert user.email == email and user.email_confirmed_at is None
    assert user.user_metadata["name"] == "Sam Signup"
    with pytest.raises(AuthApiError) as unconfirmed:
        anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert unconfirmed.value.code == "email_not_confirmed"

    opened = httpx.get(props.action_link)
    assert opened.headers["location"].startswith(f"{SITE}/hello#access_token=")
    assert anon.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert audit_actions(db, user.id)[:4] == [
        "user.created_by_admin",
        "admin.link_generated",
        "user.sign_in_failed",  # the attempt before confirming (email_not_confirmed)
        "user.email_confirmed",
    ]
    # generate_link sends nothing: a mail sent after it arrives, and none for this address.
    later = new_email("later")
    service.auth.admin.invite_user_by_email(later)
    mailbox.wait_for(later, "invite")
    assert mailbox.sent_to(email) == []


def test_generate_magic_and_recovery_links(
    service: Client, anon: Client, db: MigratedDatabase
) -> None:
    email = new_email("magic")
    user = service.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True}
    ).user
    magic = service.auth.admin.generate_link({"type": "magiclink", "email": email}).properties
    assert magic.verification_type == "magiclink" and magic.redirect_to == SITE
    assert parse_qs(urlsplit(magic.action_link).query)["type"] == ["magiclink"]
    signed_in = anon.auth.verify_otp({"token_hash": magic.hashed_token, "type": "magiclink"})
    assert signed_in.session is not None and signed_in.user is not None
    assert signed_in.user.id == user.id
    anon.auth.sign_out()

    recovery = service.auth.admin.generate_link({"type": "recovery", "email": email}).properties
    # Magic links and recovery tokens are kept apart: neither replaces nor verifies as the other.
    assert recovery.email_otp != magic.email_otp
    with pytest.raises(AuthApiError) as wrong_type:
        anon.auth.verify_otp({"token_hash": recovery.hashed_token, "type": "magiclink"})
    assert wrong_type.value.code == "otp_expired"
    recovered = anon.auth.verify_otp(
        {"email": email, "token": recovery.email_otp, "type": "recovery"}
    )
    assert recovered.session is not None
    logged = audit_actions(db, user.id)
    assert logged.count("admin.link_generated") == 2
    assert {"user.signed_in", "user.recovered"} <= set(logged)
    [(sent,)] = owner_query(db, "select recovery_sent_at from auth.users where id = $1", user.id)
    assert sent is not None


def test_a_magic_link_to_an_unknown_address_signs_it_up(
    service: Client, link_server: LiveServer
) -> None:
    email = new_email("newcomer")
    made = service.auth.admin.generate_link({"type": "magiclink", "email": email})
    assert made.properties.verification_type == "signup"
    assert made.user.email == email and made.user.email_confirmed_at is None
    opened = httpx.get(made.properties.action_link)
    assert fragment(opened.headers["location"])["type"] == "signup"


def test_generate_invite_link(service: Client, mailbox: Mailbox, db: MigratedDatabase) -> None:
    email = new_email("invite-link")
    made = service.auth.admin.generate_link(
        {"type": "invite", "email": email, "options": {"data": {"team_hint": "Research"}}}
    )
    assert made.properties.verification_type == "invite"
    assert made.user.invited_at is not None and made.user.user_metadata["team_hint"] == "Research"
    assert parse_qs(urlsplit(made.properties.action_link).query)["type"] == ["invite"]
    assert {"user.invited", "admin.link_generated"} <= set(audit_actions(db, made.user.id))
    assert mailbox.sent_to(email) == []


def test_generate_email_change_link(
    service: Client, anon: Client, admin_http: httpx.Client, db: MigratedDatabase
) -> None:
    old, new = new_email("old"), new_email("new")
    user = service.auth.admin.create_user(
        {"email": old, "password": PASSWORD, "email_confirm": True}
    ).user
    made = service.auth.admin.generate_link(
        {"type": "email_change_new", "email": old, "new_email": new}
    )
    assert made.properties.verification_type == "email_change_new"
    assert made.user.new_email == new and made.user.email == old
    assert parse_qs(urlsplit(made.properties.action_link).query)["type"] == ["email_change"]
    opened = httpx.get(made.properties.action_link)
    assert fragment(opened.headers["location"])["type"] == "email_change"
    assert owner_query(db, "select email from auth.users where id = $1", user.id) == [(new,)]
    assert anon.auth.sign_in_with_password({"email": new, "password": PASSWORD}).session


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (
            {"type": "bogus", "email": "x@example.com"},
            400,
            "validation_failed",
            "Invalid email action link type requested: bogus",
        ),
        ({"email": "x@example.com"}, 400, "validation_failed", None),
        (
            {
                "type": "email_change_current",
                "email": "x@example.com",
                "new_email": "y@example.com",
            },
            400,
            "validation_failed",
            "Enable secure email change to generate link for current email",
        ),
        (
            {"type": "signup", "email": "nope", "password": PASSWORD},
            400,
            "email_address_invalid",
            None,
        ),
        (
            {"type": "signup", "email": "{new}"},
            400,
            "validation_failed",
            "Signup requires a valid password",
        ),
        ({"type": "signup", "email": "{new}", "password": "short"}, 422, "weak_password", None),
        (
            {"type": "signup", "email": "{new}", "password": PASSWORD, "data": [1]},
            400,
            "validation_failed",
            None,
        ),
        (
            {"type": "signup", "email": "{confirmed}", "password": PASSWORD},
            422,
            "email_exists",
            None,
        ),
        ({"type": "invite", "email": "{confirmed}"}, 422, "email_exists", None),
        (
            {"type": "recovery", "email": "{new}"},
            404,
            "user_not_found",
            "User with this email not found",
        ),
        (
            {"type": "email_change_new", "email": "{new}", "new_email": "y@example.com"},
            404,
            "user_not_found",
            None,
        ),
        ({"type": "email_change_new", "email": "{confirmed}"}, 400, "validation_failed", None),
        (
            {"type": "email_change_new", "email": "{confirmed}", "new_email": "{other}"},
            422,
            "email_exists",
            None,
        ),
    ],
)
def test_bad_links(
    admin_http: httpx.Client,
    db: MigratedDatabase,
    body: dict[str, Any],
    status: int,
    code: str,
    message: str | None,
) -> None:
    names = {"new": new_email("never"), "confirmed": new_email("has"), "other": new_email("other")}
    for name in ("confirmed", "other"):
        made = admin_http.post(
            "/admin/users",
            json={"email": names[name], "password": PASSWORD, "email_confirm": True},
        )
        assert made.status_code == 200, made.text
    filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
    answer = expect_auth_error(admin_http.post("/admin/generate_link", json=filled), status, code)
    if message is not None:
        assert answer["message"] == message
    # A refused request leaves no account behind.
    assert owner_query(db, "select count(*) from auth.users where email = $1", names["new"]) == [
        (0,)
    ]
