"""Confirmation, recovery and e-mail change by mail, end to end.

A live server sends over SMTP to a real local server (aiosmtpd); the tests read each
message and follow its link over HTTP, or hand its token to supabase-py.
"""

import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from gptdesk.auth.mail import KIND_HEADER
from gptdesk.db.embedded import free_port
from tests.conftest import LiveServer, MigratedDatabase, running_server, scratch_dir
from tests.helpers import (
    PASSWORD,
    SITE,
    VERSION,
    audit_actions,
    confirmed_user,
    expect_auth_error,
    fragment,
    generous_limits,
    mail_server_settings,
    new_email,
    owner_query,
)
from tests.mailbox import Mailbox, code_in, link_in


@pytest.fixture(scope="module")
def mail_server(db: MigratedDatabase, mailbox: Mailbox) -> Iterator[LiveServer]:
    """Open sign-up that needs confirmation, mail over SMTP to the mailbox."""
    with running_server(
        db,
        **mail_server_settings(
            mailbox,
            open_signup="true",
            redirect_urls=f"{SITE}/*,myapp://callback",
            **generous_limits("signup_ip", "token_ip", "verify_ip", "email"),
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
    """supabase-py as it comes: PKCE flow (tests/auth/test_pkce.py follows its links)."""
    with httpx.Client() as transport:
        yield create_client(
            mail_server.url, mail_server.anon_key, options=ClientOptions(httpx_client=transport)
        )


@pytest.fixture
def implicit_client(mail_server: LiveServer) -> Iterator[Client]:
    """supabase-py in the implicit flow: mailed links carry the session in the fragment."""
    with httpx.Client() as transport:
        yield create_client(
            mail_server.url,
            mail_server.anon_key,
            options=ClientOptions(httpx_client=transport, flow_type="implicit"),
        )


def test_sign_up_mails_a_link_that_confirms_and_signs_in(
    implicit_client: Client, mailbox: Mailbox, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    client = implicit_client
    email = new_email("signup")
    signed_up = client.auth.sign_up(
        {
            "email": email,
            "password": PASSWORD,
            "options": {"email_redirect_to": f"{SITE}/welcome"},
        }
    )
    assert signed_up.session is None and signed_up.user is not None
    assert signed_up.user.email_confirmed_at is None
    assert signed_up.user.confirmation_sent_at is not None
    with pytest.raises(AuthApiError) as unconfirmed:
        client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert unconfirmed.value.code == "email_not_confirmed"

    mail = mailbox.wait_for(email, "confirmation")
    assert mail["Subject"] == "Confirm your GPT Desk account"
    link = link_in(mail)
    assert link.startswith(f"{mail_server.url}/auth/v1/verify?")
    params = parse_qs(urlsplit(link).query)
    assert params["type"] == ["signup"] and params["redirect_to"] == [f"{SITE}/welcome"]

    opened = httpx.get(link)  # a browser: no apikey, and it does not follow the redirect here
    assert opened.status_code == 303
    location = opened.headers["location"]
    assert location.startswith(f"{SITE}/welcome#")
    session = fragment(location)
    assert session["token_type"] == "bearer" and session["type"] == "signup"
    assert int(session["expires_in"]) == 3600 and session["refresh_token"]
    me = httpx.get(
        f"{mail_server.url}/auth/v1/user",
        headers={
            "apikey": mail_server.anon_key,
            "Authorization": f"Bearer {session['access_token']}",
        },
    ).json()
    assert me["email"] == email and me["email_confirmed_at"]
    assert me["user_metadata"]["email_verified"] is True

    assert client.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert [a for a in audit_actions(db, me["id"]) if a != "user.sign_in_failed"][:2] == [
        "user.signed_up",
        "user.email_confirmed",
    ]

    again = httpx.get(link)
    assert again.status_code == 303
    assert fragment(again.headers["location"]) == {
        "error": "access_denied",
        "error_code": "otp_expired",
        "error_description": "Email link is invalid or has expired",
    }


def test_signing_up_again_unconfirmed_mails_a_new_link(
    http: httpx.Client, mailbox: Mailbox, db: MigratedDatabase
) -> None:
    email = new_email("again")
    first = http.post("/signup", json={"email": email, "password": PASSWORD}).json()
    old_code = code_in(mailbox.wait_for(email, "confirmation"))
    repeat = http.post("/signup", json={"email": email, "password": PASSWORD})
    assert repeat.status_code == 200
    assert repeat.json()["id"] != first["id"]  # GoTrue's stand-in: nothing to learn here
    new_code = code_in(mailbox.wait_for(email, "confirmation", count=2))
    assert new_code != old_code
    # Only the newest mail works.
    expect_auth_error(
        http.post("/verify", json={"type": "signup", "token_hash": old_code}), 403, "otp_expired"
    )
    assert http.post("/verify", json={"type": "signup", "token_hash": new_code}).status_code == 200


def test_recovery_with_supabase_py(
    client: Client, mailbox: Mailbox, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    email = new_email("recover")
    user_id = confirmed_user(mail_server, email)
    client.auth.reset_password_for_email(email, {"redirect_to": f"{SITE}/reset"})
    mail = mailbox.wait_for(email, "recovery")
    assert mail["Subject"] == "Reset your GPT Desk password"
    assert parse_qs(urlsplit(link_in(mail)).query)["redirect_to"] == [f"{SITE}/reset"]
    token = code_in(mail)

    recovered = client.auth.verify_otp({"email": email, "token": token, "type": "recovery"})
    assert recovered.session is not None and recovered.user is not None
    assert recovered.user.id == user_id
    client.auth.update_user({"password": "n3w-secret-pass"})
    client.auth.sign_out()

    with pytest.raises(AuthApiError) as old:
        client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert old.value.code == "invalid_credentials"
    assert client.auth.sign_in_with_password({"email": email, "password": "n3w-secret-pass"})

    with pytest.raises(AuthApiError) as reused:
        client.auth.verify_otp({"email": email, "token": token, "type": "recovery"})
    assert (reused.value.status, reused.value.code) == (403, "otp_expired")
    assert reused.value.message == "Token has expired or is invalid"
    assert {"user.recovery_requested", "user.recovered", "user.password_changed"} <= set(
        audit_actions(db, user_id)
    )
    [(sent_at,)] = owner_query(db, "select recovery_sent_at from auth.users where id = $1", user_id)
    assert sent_at is not None


def test_recovery_by_token_hash(client: Client, mailbox: Mailbox, mail_server: LiveServer) -> None:
    email = new_email("hash")
    confirmed_user(mail_server, email)
    client.auth.reset_password_for_email(email)
    token = code_in(mailbox.wait_for(email, "recovery"))
    # Without redirect_to the link leads to the site URL.
    assert parse_qs(urlsplit(link_in(mailbox.wait_for(email))).query)["redirect_to"] == [SITE]
    verified = client.auth.verify_otp({"token_hash": token, "type": "recovery"})
    assert verified.session is not None and verified.user is not None
    assert verified.user.email == email


def test_recover_does_not_tell_whether_an_address_has_an_account(
    http: httpx.Client, mailbox: Mailbox, mail_server: LiveServer
) -> None:
    known, unknown = new_email("known"), new_email("unknown")
    confirmed_user(mail_server, known)
    answers = [http.post("/recover", json={"email": address}) for address in (unknown, known)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {}), (200, {})]
    mailbox.wait_for(known, "recovery")
    # No mail is ever made for an address without an account.
    assert mailbox.sent_to(unknown) == []


def test_an_email_change_waits_for_the_new_address_to_confirm(
    implicit_client: Client, mailbox: Mailbox, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    client = implicit_client
    old, new = new_email("old"), new_email("new")
    user_id = confirmed_user(mail_server, old)
    client.auth.sign_in_with_password({"email": old, "password": PASSWORD})
    pending = client.auth.update_user({"email": new}, {"email_redirect_to": "myapp://callback"})
    assert pending.user is not None
    assert pending.user.email == old and pending.user.new_email == new
    assert pending.user.email_change_sent_at is not None
    assert owner_query(db, "select email from public.users where id = $1", user_id) == [(old,)]

    mail = mailbox.wait_for(new, "email_change")
    assert mail["Subject"] == "Confirm your new e-mail address for GPT Desk"
    assert old in str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    opened = httpx.get(link_in(mail))
    assert opened.status_code == 303
    assert opened.headers["location"].startswith("myapp://callback#access_token=")
    assert fragment(opened.headers["location"])["type"] == "email_change"

    assert owner_query(db, "select email, email_change from auth.users where id = $1", user_id) == [
        (new, None)
    ]
    assert owner_query(db, "select email from public.users where id = $1", user_id) == [(new,)]
    assert "user.email_changed" in audit_actions(db, user_id)
    client.auth.sign_out()
    assert client.auth.sign_in_with_password({"email": new, "password": PASSWORD}).session


def test_an_email_change_to_a_taken_address_is_refused(
    http: httpx.Client, mail_server: LiveServer
) -> None:
    mine, taken = new_email("mine"), new_email("taken")
    confirmed_user(mail_server, mine)
    confirmed_user(mail_server, taken)
    session = http.post(
        "/token?grant_type=password", json={"email": mine, "password": PASSWORD}
    ).json()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    expect_auth_error(http.put("/user", json={"email": taken}, headers=bearer), 422, "email_exists")


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"{not json", 400, "validation_failed", "Could not parse request body as JSON"),
        (b"{}", 400, "validation_failed", "Verify requires a token or a token hash"),
        (b'{"type": "recovery"}', 400, "validation_failed", None),
        (b'{"token_hash": "abc"}', 400, "validation_failed", "Verify requires a verification type"),
        (
            b'{"type": "sms", "token_hash": "abc"}',
            400,
            "validation_failed",
            "Unsupported verification type",
        ),
        (b'{"type": "recovery", "token_hash": 5}', 400, "validation_failed", None),
        (
            b'{"type": "recovery", "token": "abc", "email": "nope"}',
            400,
            "email_address_invalid",
            None,
        ),
        (
            b'{"type": "recovery", "token_hash": "never-issued"}',
            403,
            "otp_expired",
            "Token has expired or is invalid",
        ),
    ],
)
def test_verify_bad_requests(
    http: httpx.Client, body: bytes, status: int, code: str, message: str | None
) -> None:
    answer = expect_auth_error(http.post("/verify", content=body), status, code)
    if message is not None:
        assert answer["message"] == message


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{}", 400, "validation_failed"),
        (b'{"email": ""}', 400, "validation_failed"),
        (b'{"email": "not-an-address"}', 400, "email_address_invalid"),
        (b"[]", 400, "validation_failed"),
    ],
)
def test_recover_bad_requests(http: httpx.Client, body: bytes, status: int, code: str) -> None:
    expect_auth_error(http.post("/recover", content=body), status, code)


def test_recover_and_post_verify_need_the_project_key(mail_server: LiveServer) -> None:
    for path in ("/recover", "/verify"):
        answer = httpx.post(f"{mail_server.url}/auth/v1{path}", json={})
        assert answer.status_code == 401
        assert answer.json()["message"] == "No API key found in request"


def test_an_expired_token_changes_nothing(
    http: httpx.Client, mailbox: Mailbox, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    email = new_email("expired")
    user_id = http.post("/signup", json={"email": email, "password": PASSWORD}).json()["id"]
    mail = mailbox.wait_for(email, "confirmation")
    owner_query(
        db,
        "update auth.one_time_tokens set created_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 hour' where user_id = $1",
        user_id,
    )
    expect_auth_error(
        http.post("/verify", json={"type": "signup", "token_hash": code_in(mail)}),
        403,
        "otp_expired",
    )
    opened = httpx.get(link_in(mail))
    assert fragment(opened.headers["location"])["error_code"] == "otp_expired"
    assert opened.headers["location"].startswith(f"{SITE}#")
    assert owner_query(db, "select email_confirmed_at from auth.users where id = $1", user_id) == [
        (None,)
    ]
    assert owner_query(db, "select count(*) from auth.sessions where user_id = $1", user_id) == [
        (0,)
    ]
    assert audit_actions(db, user_id) == ["user.signed_up"]


def test_a_token_only_works_for_its_type_and_address(
    http: httpx.Client, mailbox: Mailbox, mail_server: LiveServer
) -> None:
    email = new_email("typed")
    confirmed_user(mail_server, email)
    http.post("/recover", json={"email": email})
    token = code_in(mailbox.wait_for(email, "recovery"))
    for wrong in (
        {"type": "signup", "token_hash": token},
        {"type": "email_change", "token_hash": token},
        {"type": "recovery", "token": token, "email": new_email("other")},
    ):
        expect_auth_error(http.post("/verify", json=wrong), 403, "otp_expired")
    # The failures did not use the token up.
    right = http.post("/verify", json={"type": "recovery", "token": token, "email": email})
    assert right.status_code == 200 and right.json()["user"]["email"] == email


def test_a_gotrue_invite_token_confirms_and_signs_in(
    http: httpx.Client, mail_server: LiveServer, db: MigratedDatabase
) -> None:
    """Type `invite` (the admin API's invitations) and `email` (= signup) consume their tokens."""
    for verify_type, token_type in (("invite", "invite"), ("email", "confirmation")):
        email = new_email(verify_type)
        made = httpx.post(
            f"{mail_server.url}/auth/v1/admin/users",
            headers={
                "apikey": mail_server.anon_key,
                "Authorization": f"Bearer {mail_server.service_role_key}",
            },
            json={"email": email},
        ).json()
        token = secrets.token_urlsafe(32)
        owner_query(
            db,
            "insert into auth.one_time_tokens (user_id, token_type, token_hash, relates_to, "
            "expires_at) values ($1, $2, encode(sha256(convert_to($3, 'UTF8')), 'hex'), $4, "
            "now() + interval '1 hour')",
            made["id"],
            token_type,
            token,
            email,
        )
        verified = http.post("/verify", json={"type": verify_type, "token_hash": token})
        assert verified.status_code == 200, verified.text
        assert verified.json()["user"]["email_confirmed_at"]
        assert "user.email_confirmed" in audit_actions(db, made["id"])


def test_links_never_redirect_off_the_allow_list(
    http: httpx.Client, mailbox: Mailbox, mail_server: LiveServer
) -> None:
    email = new_email("redirect")
    confirmed_user(mail_server, email)
    assert http.post("/recover?redirect_to=https://evil.test/steal", json={"email": email})
    link = link_in(mailbox.wait_for(email, "recovery"))
    assert parse_qs(urlsplit(link).query)["redirect_to"] == [SITE]
    # A hand-made link with another target ends at the site URL too, session and all.
    tampered = link.replace(
        "redirect_to=http%3A%2F%2Fapp.test", "redirect_to=https%3A%2F%2Fevil.test"
    )
    assert "evil.test" in tampered
    opened = httpx.get(tampered)
    assert opened.status_code == 303 and opened.headers["location"].startswith(f"{SITE}#")
    assert "access_token" in fragment(opened.headers["location"])


def test_a_banned_user_cannot_verify(
    http: httpx.Client, mailbox: Mailbox, mail_server: LiveServer
) -> None:
    email = new_email("banned")
    user_id = confirmed_user(mail_server, email)
    http.post("/recover", json={"email": email})
    token = code_in(mailbox.wait_for(email, "recovery"))
    banned = httpx.put(
        f"{mail_server.url}/auth/v1/admin/users/{user_id}",
        headers={
            "apikey": mail_server.anon_key,
            "Authorization": f"Bearer {mail_server.service_role_key}",
        },
        json={"ban_duration": "24h"},
    )
    assert banned.status_code == 200
    expect_auth_error(
        http.post("/verify", json={"type": "recovery", "token_hash": token}), 403, "user_banned"
    )


def test_a_failed_delivery_keeps_the_change(db: MigratedDatabase) -> None:
    """The mail server is down: /recover still answers, and its change stays committed."""
    with running_server(
        db, smtp_host="127.0.0.1", smtp_port=str(free_port()), smtp_starttls="false"
    ) as live:
        email = new_email("down")
        user_id = confirmed_user(live, email)
        answer = httpx.post(
            f"{live.url}/auth/v1/recover",
            headers={"apikey": live.anon_key},
            json={"email": email},
        )
        assert (answer.status_code, answer.json()) == (200, {})
    assert owner_query(
        db,
        "select count(*) from auth.one_time_tokens where user_id = $1 and token_type = 'recovery'",
        user_id,
    ) == [(1,)]
    assert "user.recovery_requested" in audit_actions(db, user_id)


def test_without_smtp_mail_goes_to_the_outbox(db: MigratedDatabase) -> None:
    data_dir = scratch_dir("gptdesk-test-outbox-")
    try:
        with running_server(db, data_dir=str(data_dir), open_signup="true") as live:
            email = new_email("outbox")
            httpx.post(
                f"{live.url}/auth/v1/signup",
                headers={"apikey": live.anon_key},
                json={"email": email, "password": PASSWORD},
            )
            [eml] = _wait_for_files(data_dir / "outbox")
        assert stat.S_IMODE(eml.stat().st_mode) == 0o600
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    assert message["To"] == email and message[KIND_HEADER] == "confirmation"
    assert link_in(message).startswith(f"{live.url}/auth/v1/verify?token=")  # type: ignore[arg-type]


def _wait_for_files(folder: Path, timeout: float = 15.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob("*.eml")) if folder.is_dir() else []
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"nothing in {folder}")


def test_recovery_mails_per_address_are_limited(db: MigratedDatabase) -> None:
    with running_server(db, rate_limit_email="2/hour", rate_limit_verify_ip="2/hour") as live:
        headers = {"apikey": live.anon_key, **VERSION}
        target = new_email("flooded")
        codes = [
            httpx.post(f"{live.url}/auth/v1/recover", headers=headers, json={"email": target})
            for _ in range(3)
        ]
        assert [c.status_code for c in codes] == [200, 200, 429]
        assert codes[-1].json()["code"] == "over_email_send_rate_limit"
        assert int(codes[-1].headers["retry-after"]) >= 1
        other = httpx.post(
            f"{live.url}/auth/v1/recover", headers=headers, json={"email": new_email("calm")}
        )
        assert other.status_code == 200
        verifies = [
            httpx.post(
                f"{live.url}/auth/v1/verify",
                headers=headers,
                json={"type": "recovery", "token_hash": "x"},
            ).status_code
            for _ in range(3)
        ]
        assert verifies == [403, 403, 429]
        assert httpx.get(f"{live.url}/auth/v1/verify?token=x&type=signup").status_code == 429
