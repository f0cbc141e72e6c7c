"""PKCE for mailed links: supabase-py's default flow end to end, and every error as raw HTTP.

A live server mails over SMTP to a real local server (aiosmtpd); the tests follow each
mail's link like a browser, take the `code` from the redirect and exchange it — with the
same supabase-py instance that holds the verifier, or by hand.
"""

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import jwt
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from gptdesk.auth.pkce import s256
from tests.conftest import LiveServer, MigratedDatabase, running_server
from tests.helpers import (
    PASSWORD,
    SITE,
    VERSION,
    audit_actions,
    confirmed_user,
    expect_auth_error,
    generous_limits,
    mail_server_settings,
    new_email,
    owner_query,
)
from tests.mailbox import Mailbox, code_in, link_in


def follow(link: str) -> str:
    """Open a mailed link like a browser and return where it redirects."""
    opened = httpx.get(link)
    assert opened.status_code == 303, opened.text
    return opened.headers["location"]


def code_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.fragment == "", location  # PKCE: nothing in the fragment
    [code] = parse_qs(parts.query)["code"]
    return code


@pytest.fixture(scope="module")
def mail_server(db: MigratedDatabase, mailbox: Mailbox) -> Iterator[LiveServer]:
    """Open sign-up that needs confirmation, mail over SMTP to the mailbox."""
    with running_server(
        db,
        **mail_server_settings(
            mailbox,
            open_signup="true",
            redirect_urls=f"{SITE}/*,myapp://callback",
            **generous_limits("signup_ip", "token_ip", "verify_ip", "recover_ip", "email"),
        ),
    ) as live:
        yield live


@pytest.fixture
def http(mail_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{mail_server.url}/auth/v1",
        headers={"apikey": mail_server.anon_key, **VERSION},
    ) as client:
        yield client


@pytest.fixture
def client(mail_server: LiveServer) -> Iterator[Client]:
    """supabase-py as it comes: flow_type "pkce"."""
    with httpx.Client() as transport:
        yield create_client(
            mail_server.url, mail_server.anon_key, options=ClientOptions(httpx_client=transport)
        )


def test_sign_up_confirms_through_a_code_only_the_client_can_use(
    client: Client, mailbox: Mailbox, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    email = new_email("signup")
    signed_up = client.auth.sign_up(
        {"email": email, "password": PASSWORD, "options": {"email_redirect_to": f"{SITE}/welcome"}}
    )
    assert signed_up.session is None and signed_up.user is not None
    user_id = signed_up.user.id
    [(method, issued)] = owner_query(
        db,
        "select code_challenge_method, auth_code_hash is not null from auth.flow_state "
        "where user_id = $1 and authentication_method = 'signup'",
        user_id,
    )
    assert (method, issued) == ("s256", False)

    mail = mailbox.wait_for(email, "confirmation")
    link = link_in(mail)
    [token] = parse_qs(urlsplit(link).query)["token"]
    assert token.startswith("pkce_")
    location = follow(link)
    assert location.startswith(f"{SITE}/welcome?code=")
    code = code_of(location)
    # The address is confirmed by following the link, but no session was handed out yet.
    [(confirmed_at, sessions)] = owner_query(
        db,
        "select email_confirmed_at, (select count(*) from auth.sessions where user_id = u.id) "
        "from auth.users u where id = $1",
        user_id,
    )
    assert confirmed_at is not None and sessions == 0
    # Only the code's hash is stored, and it now lives GPTDESK_FLOW_STATE_TTL seconds.
    [(stored, lifetime)] = owner_query(
        db,
        "select auth_code_hash, extract(epoch from expires_at - auth_code_issued_at)::int "
        "from auth.flow_state where user_id = $1",
        user_id,
    )
    assert stored != code and len(stored) == 64 and lifetime == 300

    exchanged = client.auth.exchange_code_for_session({"auth_code": code})
    assert exchanged.session is not None and exchanged.user is not None
    assert exchanged.user.id == user_id and exchanged.user.email_confirmed_at is not None
    user = client.auth.get_user()
    assert user is not None and user.user.email == email
    claims = jwt.decode(exchanged.session.access_token, options={"verify_signature": False})
    assert [entry["method"] for entry in claims["amr"]] == ["email/signup"]  # GoTrue's name
    assert owner_query(db, "select count(*) from auth.flow_state where user_id = $1", user_id) == [
        (0,)
    ]
    assert audit_actions(db, user_id) == [
        "user.signed_up",
        "user.email_confirmed",
        "user.signed_in",
    ]

    # A code works once.
    with pytest.raises(AuthApiError) as again:
        client.auth.exchange_code_for_session({"auth_code": code, "code_verifier": "x" * 43})
    assert (again.value.status, again.value.code) == (404, "flow_state_not_found")


def test_recovery_with_pkce(
    client: Client, mailbox: Mailbox, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    email = new_email("recover")
    user_id = confirmed_user(mail_server, email)
    events: list[str] = []
    client.auth.on_auth_state_change(lambda event, session: events.append(event))
    client.auth.reset_password_for_email(email, {"redirect_to": f"{SITE}/reset"})
    location = follow(link_in(mailbox.wait_for(email, "recovery")))
    assert location.startswith(f"{SITE}/reset?code=")

    recovered = client.auth.exchange_code_for_session({"auth_code": code_of(location)})
    assert recovered.user is not None and recovered.user.id == user_id
    assert "PASSWORD_RECOVERY" in events  # supabase-py knows the verifier was for recovery
    client.auth.update_user({"password": "n3w-secret-pass"})
    client.auth.sign_out()
    assert client.auth.sign_in_with_password({"email": email, "password": "n3w-secret-pass"})
    assert {"user.recovery_requested", "user.recovered", "user.signed_in"} <= set(
        audit_actions(db, user_id)
    )


def test_email_change_with_pkce(
    client: Client, mailbox: Mailbox, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    old, new = new_email("old"), new_email("new")
    user_id = confirmed_user(mail_server, old)
    client.auth.sign_in_with_password({"email": old, "password": PASSWORD})
    client.auth.update_user({"email": new}, {"email_redirect_to": "myapp://callback"})
    location = follow(link_in(mailbox.wait_for(new, "email_change")))
    assert location.startswith("myapp://callback?code=")
    changed = client.auth.exchange_code_for_session({"auth_code": code_of(location)})
    assert changed.user is not None and changed.user.email == new
    assert owner_query(db, "select email from auth.users where id = $1", user_id) == [(new,)]


def pkce_pair(method: str = "s256") -> tuple[str, str, str]:
    """(verifier, challenge, method) made by hand."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier) if method == "s256" else verifier, method


def signed_up_code(
    http: httpx.Client, mailbox: Mailbox, challenge: str, method: str
) -> tuple[str, str]:
    """Sign up with a challenge over raw HTTP, follow the mail's link: (user id, code)."""
    email = new_email("raw")
    user = http.post(
        "/signup",
        json={
            "email": email,
            "password": PASSWORD,
            "code_challenge": challenge,
            "code_challenge_method": method,
        },
    ).json()
    return user["id"], code_of(follow(link_in(mailbox.wait_for(email, "confirmation"))))


def test_pkce_grant_errors(http: httpx.Client, mailbox: Mailbox, db: MigratedDatabase) -> None:
    verifier, challenge, method = pkce_pair("plain")
    user_id, code = signed_up_code(http, mailbox, challenge, method.upper())  # any case

    def grant(body: object) -> httpx.Response:
        return http.post("/token?grant_type=pkce", json=body)

    for body in ({}, {"auth_code": code}, {"code_verifier": verifier}, {"auth_code": 5}):
        answer = expect_auth_error(grant(body), 400, "validation_failed")
        assert answer["message"] == (
            "invalid request: both auth code and code verifier should be non-empty"
        )
    expect_auth_error(
        grant({"auth_code": "nope", "code_verifier": verifier}), 404, "flow_state_not_found"
    )
    wrong = expect_auth_error(
        grant({"auth_code": code, "code_verifier": verifier + "x"}), 400, "bad_code_verifier"
    )
    assert wrong["message"] == "code challenge does not match previously saved code verifier"
    # None of that used the code up, nor signed anyone in.
    assert owner_query(db, "select count(*) from auth.sessions where user_id = $1", user_id) == [
        (0,)
    ]

    session = grant({"auth_code": code, "code_verifier": verifier})
    assert session.status_code == 200, session.text
    assert session.json()["user"]["id"] == user_id and session.json()["refresh_token"]
    expect_auth_error(
        grant({"auth_code": code, "code_verifier": verifier}), 404, "flow_state_not_found"
    )


def test_an_expired_code_changes_nothing(
    http: httpx.Client, mailbox: Mailbox, db: MigratedDatabase
) -> None:
    verifier, challenge, method = pkce_pair()
    user_id, code = signed_up_code(http, mailbox, challenge, method)
    owner_query(
        db,
        "update auth.flow_state set created_at = now() - interval '10 minutes', "
        "auth_code_issued_at = now() - interval '6 minutes', "
        "expires_at = now() - interval '1 minute' where user_id = $1",
        user_id,
    )
    expired = http.post(
        "/token?grant_type=pkce", json={"auth_code": code, "code_verifier": verifier}
    )
    body = expect_auth_error(expired, 422, "flow_state_expired")
    assert body["message"] == "invalid flow state, flow state has expired"
    assert owner_query(db, "select count(*) from auth.sessions where user_id = $1", user_id) == [
        (0,)
    ]


def test_a_link_followed_late_still_gives_a_fresh_code(
    http: httpx.Client, mailbox: Mailbox, db: MigratedDatabase
) -> None:
    """The code's lifetime starts when the link is followed, not when the mail was sent."""
    verifier, challenge, method = pkce_pair()
    email = new_email("late")
    user_id = http.post(
        "/signup",
        json={
            "email": email,
            "password": PASSWORD,
            "code_challenge": challenge,
            "code_challenge_method": method,
        },
    ).json()["id"]
    owner_query(
        db,
        "update auth.flow_state set created_at = now() - interval '50 minutes' where user_id = $1",
        user_id,
    )
    code = code_of(follow(link_in(mailbox.wait_for(email, "confirmation"))))
    answer = http.post(
        "/token?grant_type=pkce", json={"auth_code": code, "code_verifier": verifier}
    )
    assert answer.status_code == 200, answer.text


def test_post_verify_of_a_pkce_token_signs_in_directly(
    http: httpx.Client, mailbox: Mailbox
) -> None:
    """As in GoTrue, only the link (GET) hands out a code; verify_otp gets the session."""
    _, challenge, method = pkce_pair()
    email = new_email("otp")
    http.post(
        "/signup",
        json={
            "email": email,
            "password": PASSWORD,
            "code_challenge": challenge,
            "code_challenge_method": method,
        },
    )
    token = code_in(mailbox.wait_for(email, "confirmation"))
    assert token.startswith("pkce_")
    verified = http.post("/verify", json={"type": "signup", "token": token, "email": email})
    assert verified.status_code == 200 and verified.json()["access_token"]


def test_a_new_mail_supersedes_the_old_flow(
    http: httpx.Client, mailbox: Mailbox, db: MigratedDatabase
) -> None:
    email = new_email("twice")
    for _ in range(2):
        _, challenge, method = pkce_pair()
        http.post(
            "/signup",
            json={
                "email": email,
                "password": PASSWORD,
                "code_challenge": challenge,
                "code_challenge_method": method,
            },
        )
    assert owner_query(
        db,
        "select count(*) from auth.flow_state f join auth.users u on u.id = f.user_id "
        "where u.email = $1",
        email,
    ) == [(1,)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"code_challenge": "a" * 43},
            "PKCE flow requires code_challenge_method and code_challenge",
        ),
        ({"code_challenge_method": "s256"}, None),
        ({"code_challenge": "a" * 42, "code_challenge_method": "s256"}, None),
        ({"code_challenge": "a" * 129, "code_challenge_method": "s256"}, None),
        ({"code_challenge": "a" * 42 + "!", "code_challenge_method": "s256"}, None),
        ({"code_challenge": "a" * 43, "code_challenge_method": "s512"}, None),
        ({"code_challenge": 5, "code_challenge_method": "s256"}, None),
    ],
)
def test_bad_challenges_are_refused_and_create_nothing(
    http: httpx.Client, db: MigratedDatabase, extra: dict[str, object], message: str | None
) -> None:
    email = new_email("bad")
    for path in ("/signup", "/recover"):
        answer = expect_auth_error(
            http.post(path, json={"email": email, "password": PASSWORD, **extra}),
            400,
            "validation_failed",
        )
        if message is not None:
            assert answer["message"] == message
    assert owner_query(db, "select count(*) from auth.users where email = $1", email) == [(0,)]


def test_implicit_clients_still_get_the_session(http: httpx.Client, mailbox: Mailbox) -> None:
    """supabase-js sends explicit nulls: the implicit flow, session in the fragment."""
    email = new_email("js")
    http.post(
        "/signup",
        json={
            "email": email,
            "password": PASSWORD,
            "code_challenge": None,
            "code_challenge_method": None,
        },
    )
    location = follow(link_in(mailbox.wait_for(email, "confirmation")))
    assert "#access_token=" in location and "code=" not in urlsplit(location).query


def test_a_bad_pkce_link_reports_in_query_and_fragment(mail_server: LiveServer) -> None:
    location = follow(
        f"{mail_server.url}/auth/v1/verify?token=pkce_bogus&type=signup&redirect_to={SITE}/x"
    )
    parts = urlsplit(location)
    expected = {
        "error": ["access_denied"],
        "error_code": ["otp_expired"],
        "error_description": ["Email link is invalid or has expired"],
    }
    assert parse_qs(parts.query) == expected and parse_qs(parts.fragment) == expected


async def test_the_api_roles_cannot_reach_flow_states(admin_conn: asyncpg.Connection) -> None:
    for role in ("anon", "authenticated", "service_role"):
        for privilege in ("select", "insert", "update", "delete"):
            allowed = await admin_conn.fetchval(
                "select has_table_privilege($1, 'auth.flow_state', $2)", role, privilege
            )
            assert allowed is False, (role, privilege)


def test_a_pkce_link_without_its_flow_state_changes_nothing(
    http: httpx.Client, mailbox: Mailbox, db: MigratedDatabase
) -> None:
    _, challenge, method = pkce_pair()
    email = new_email("lost")
    user_id = http.post(
        "/signup",
        json={
            "email": email,
            "password": PASSWORD,
            "code_challenge": challenge,
            "code_challenge_method": method,
        },
    ).json()["id"]
    owner_query(db, "delete from auth.flow_state where user_id = $1", user_id)
    location = follow(link_in(mailbox.wait_for(email, "confirmation")))
    # A 422 has no OAuth `error` name in GoTrue's redirects, only its code and description.
    assert parse_qs(urlsplit(location).query) == {
        "error_code": ["flow_state_not_found"],
        "error_description": ["No valid flow state found for user."],
    }
    assert owner_query(
        db,
        "select email_confirmed_at, (select count(*) from auth.one_time_tokens t "
        "where t.user_id = u.id) from auth.users u where id = $1",
        user_id,
    ) == [(None, 1)]
