"""Mail: the templates, the SMTP and outbox senders, and delivery after the fact."""

import smtplib
import stat
from email import message_from_bytes, policy
from email.message import EmailMessage
from importlib.resources import files
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gptdesk.auth.mail import (
    KIND_HEADER,
    SUBJECTS,
    Mailer,
    OutboxSender,
    SmtpSender,
    compose,
    create_mailer,
    create_sender,
    duration,
)
from gptdesk.auth.redirects import RedirectPolicy
from gptdesk.config import Settings
from tests.mailbox import Mailbox, html_of, link_in, text_of

SENDER = "GPT Desk <desk@example.test>"
CONTEXT = {
    "confirmation": {},
    "recovery": {},
    "email_change": {"old_email": "old@example.test"},
    "invitation": {"team_name": "Research", "inviter": "Ada (ada@example.test)", "role": "admin"},
    "invite": {},
}


def sample(kind: str, to: str = "alice@example.test") -> EmailMessage:
    return compose(
        kind,  # type: ignore[arg-type]
        to,
        sender=SENDER,
        link="https://desk.example.test/auth/v1/verify?token=tok123&type=recovery",
        token="tok123",
        expires_in=3600,
        **CONTEXT[kind],
    )


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_every_kind_renders_text_and_html(kind: str) -> None:
    message = sample(kind)
    assert message["To"] == "alice@example.test" and message["From"] == SENDER
    assert message[KIND_HEADER] == kind
    assert message["Message-ID"].endswith("@example.test>")
    for body in (text_of(message), html_of(message)):
        assert "https://desk.example.test/auth/v1/verify?token=tok123" in body
        assert "tok123" in body
    assert "expires in 1 hour" in text_of(message)
    assert html_of(message).lstrip().startswith("<!doctype html>")


def test_templates_ship_inside_the_package() -> None:
    folder = files("gptdesk.auth") / "templates"
    for kind in SUBJECTS:
        for extension in ("txt", "html"):
            assert (folder / f"{kind}.{extension}").is_file(), (kind, extension)


def test_subjects() -> None:
    assert sample("recovery")["Subject"] == "Reset your GPT Desk password"
    assert sample("invitation")["Subject"] == "Join Research on GPT Desk"
    assert sample("invite")["Subject"] == "You have been invited to GPT Desk"


def test_what_people_wrote_is_escaped_in_html_and_kept_out_of_headers() -> None:
    message = compose(
        "invitation",
        "bob@example.test",
        sender=SENDER,
        link="https://app.example.test/join?invitation_token=t&email=bob%40example.test",
        token="t",
        expires_in=7 * 86400,
        team_name='Evil <script>alert("x")</script>\r\nBcc: victim@example.test',
        inviter="Mallory <m@example.test>",
        role="user",
    )
    assert "<script>" not in html_of(message)
    assert "&lt;script&gt;" in html_of(message)
    assert "\n" not in message["Subject"] and message["Bcc"] is None
    assert "expires in 7 days" in text_of(message)
    assert "invitation_token=t&email=bob%40example.test" in text_of(message)
    assert "&amp;email=" in html_of(message)  # an HTML attribute, properly escaped


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (90, "1 minute"), (3600, "1 hour"), (7200, "2 hours"), (604800, "7 days")],
)
def test_duration(seconds: int, text: str) -> None:
    assert duration(seconds) == text


async def test_outbox_sender_writes_a_private_eml_and_logs_no_token(tmp_path: Path) -> None:
    sender = OutboxSender(tmp_path / "outbox")
    with capture_logs() as logs:
        await sender.send(sample("recovery"))
    [written] = list((tmp_path / "outbox").glob("*.eml"))
    assert "-recovery-" in written.name
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
    parsed = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert link_in(parsed).startswith("https://desk.example.test/auth/v1/verify?")
    [entry] = [e for e in logs if e["event"] == "mail written to the outbox"]
    assert entry["to"] == "alice@example.test"
    assert "tok123" not in str(entry)  # the token stays in the 0600 file, out of the logs
    assert entry["path"] == str(written)


async def test_smtp_sender_delivers(mailbox: Mailbox) -> None:
    sender = SmtpSender("127.0.0.1", mailbox.port, starttls=False, timeout=5)
    await sender.send(sample("confirmation", "smtp-plain@example.test"))
    delivered = mailbox.wait_for("smtp-plain@example.test")
    assert delivered["Subject"] == "Confirm your GPT Desk account"
    assert link_in(delivered).endswith("type=recovery")


async def test_smtp_sender_logs_in() -> None:
    with Mailbox(login=("desk", "s3cret")) as box:
        refused = SmtpSender("127.0.0.1", box.port, "desk", "wrong", starttls=False, timeout=5)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            await refused.send(sample("recovery", "login@example.test"))
        sender = SmtpSender("127.0.0.1", box.port, "desk", "s3cret", starttls=False, timeout=5)
        await sender.send(sample("recovery", "login@example.test"))
        assert box.wait_for("login@example.test")[KIND_HEADER] == "recovery"
        assert box.logins == ["desk"]


async def test_smtp_sender_will_not_send_in_the_clear_when_told_to_starttls(
    mailbox: Mailbox,
) -> None:
    sender = SmtpSender("127.0.0.1", mailbox.port, starttls=True, timeout=5)
    with pytest.raises(smtplib.SMTPNotSupportedError):
        await sender.send(sample("recovery", "never@example.test"))
    assert mailbox.sent_to("never@example.test") == []


async def test_a_failed_delivery_is_logged_not_raised() -> None:
    sender = SmtpSender("127.0.0.1", _closed_port(), starttls=False, timeout=2)
    mailer = Mailer(
        sender,
        from_address=SENDER,
        base_url="http://desk.test",
        redirects=RedirectPolicy("http://desk.test"),
    )
    with capture_logs() as logs:
        mailer.send("recovery", "x@example.test", link="http://l", token="t", expires_in=60)
        await mailer.drain()
    [entry] = [e for e in logs if e["event"] == "mail not sent"]
    assert entry["to"] == "x@example.test" and entry["kind"] == "recovery"
    assert entry["log_level"] == "error" and "ConnectionRefusedError" in entry["error"]


def test_links_lead_to_verify_and_to_allowed_redirects_only() -> None:
    mailer = Mailer(
        OutboxSender(Path("/nonexistent")),
        from_address=SENDER,
        base_url="https://desk.test/",
        redirects=RedirectPolicy("https://app.test", ("https://other.test/*",)),
    )
    assert mailer.verify_url("abc", "recovery", "https://other.test/reset") == (
        "https://desk.test/auth/v1/verify?token=abc&type=recovery"
        "&redirect_to=https%3A%2F%2Fother.test%2Freset"
    )
    assert mailer.verify_url("abc", "signup", "https://evil.test/").endswith(
        "redirect_to=https%3A%2F%2Fapp.test"
    )
    assert mailer.invitation_url("tok", "a@b.test", "https://app.test/join?x=1") == (
        "https://app.test/join?x=1&invitation_token=tok&email=a%40b.test"
    )


def test_the_factory_picks_smtp_only_when_a_host_is_set(tmp_path: Path) -> None:
    outbox = create_sender(Settings(data_dir=tmp_path))
    assert outbox == OutboxSender(tmp_path / "outbox")
    smtp = create_sender(
        Settings(
            smtp_host="mail.example.test",
            smtp_user="desk",
            smtp_password="pw",
            smtp_starttls=False,
            smtp_timeout=3,
        )
    )
    assert smtp == SmtpSender("mail.example.test", 587, "desk", "pw", False, 3.0)
    mailer = create_mailer(Settings(public_url="https://desk.test", data_dir=tmp_path))
    assert mailer.redirects.site_url == "https://desk.test"


def _closed_port() -> int:
    from gptdesk.db.embedded import free_port

    return free_port()  # free: nothing listens there
