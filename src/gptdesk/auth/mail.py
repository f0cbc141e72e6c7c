"""Mail: the messages GPT Desk sends, rendered from Jinja2 templates, and who delivers them.

Senders sit behind one small Protocol and one factory (`create_mailer`): SMTP when
GPTDESK_SMTP_HOST is set, otherwise the dev outbox, which logs each message and writes it as
an .eml file into `<data dir>/outbox/`.

Services call `Mailer.send` only once the transaction whose change the mail announces has
committed. Delivery runs in the background: a slow or failing mail server neither delays the
answer (which would also tell an address that has an account from one that has none) nor
undoes the change; a failure is logged.
"""

import asyncio
import os
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from gptdesk.auth.redirects import RedirectPolicy, with_query
from gptdesk.config import Settings

log = structlog.get_logger("gptdesk.mail")

MailKind = Literal["confirmation", "recovery", "invitation", "email_change", "invite"]
KIND_HEADER = "X-GPT-Desk-Mail"
PRODUCT = "GPT Desk"
DRAIN_SECONDS = 15.0
SUBJECTS: dict[str, str] = {
    "confirmation": "Confirm your {{ product }} account",
    "recovery": "Reset your {{ product }} password",
    "invitation": "Join {{ team_name }} on {{ product }}",
    "email_change": "Confirm your new e-mail address for {{ product }}",
    "invite": "You have been invited to {{ product }}",  # an admin's (GoTrue's /invite)
}


def duration(seconds: int) -> str:
    """'7 days', '1 hour', '90 seconds': the largest whole unit, rounded down."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


_templates = Environment(
    loader=PackageLoader("gptdesk.auth", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_templates.filters["duration"] = duration


def compose(kind: MailKind, to: str, *, sender: str, **context: Any) -> EmailMessage:
    """The message of `kind` for `to`: a plain-text part and an HTML alternative."""
    context = {"product": PRODUCT, "email": to, **context}
    # A header cannot hold line breaks; team names come from people.
    subject = " ".join(_templates.from_string(SUBJECTS[kind]).render(context).split())
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "gptdesk.localhost"
    message["Message-ID"] = make_msgid(domain=domain)  # a domain: no DNS lookup of our own name
    message[KIND_HEADER] = kind
    message.set_content(_templates.get_template(f"{kind}.txt").render(context))
    message.add_alternative(_templates.get_template(f"{kind}.html").render(context), subtype="html")
    return message


class MailSender(Protocol):
    """Delivers one message, or raises."""

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpSender:
    """SMTP with the standard library's smtplib, run in a worker thread.

    Port 465 speaks TLS from the first byte; any other port upgrades with STARTTLS when
    `starttls` is set (and fails rather than send in the clear if the server cannot).
    """

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout: float = 10.0

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            if self.port == 465
            else smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        )
        with smtp:
            if self.starttls and self.port != 465:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


@dataclass(frozen=True)
class OutboxSender:
    """The dev sender: each message to the log and, as an .eml file, into `folder`."""

    folder: Path

    async def send(self, message: EmailMessage) -> None:
        path = await asyncio.to_thread(self._write, message)
        # The body carries a sign-in token: it goes to the 0600 file, never into the log.
        log.info(
            "mail written to the outbox",
            to=message["To"],
            subject=message["Subject"],
            path=str(path),
        )

    def _write(self, message: EmailMessage) -> Path:
        # The mails carry sign-in tokens: only the server's user may read them.
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.folder / f"{stamp}-{message[KIND_HEADER]}-{secrets.token_hex(3)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
        return path


class Mailer:
    """Composes GPT Desk's mails with their links and delivers them in the background."""

    def __init__(
        self, sender: MailSender, *, from_address: str, base_url: str, redirects: RedirectPolicy
    ) -> None:
        self.sender = sender
        self.from_address = from_address
        self.base_url = base_url.rstrip("/")
        self.redirects = redirects
        self._pending: set[asyncio.Task[None]] = set()

    def verify_url(self, token: str, verify_type: str, redirect_to: str | None) -> str:
        """The /auth/v1/verify link of a mailed token; it ends at an allowed redirect."""
        query = urlencode(
            {
                "token": token,
                "type": verify_type,
                "redirect_to": self.redirects.resolve(redirect_to),
            }
        )
        return f"{self.base_url}/auth/v1/verify?{query}"

    def invitation_url(self, token: str, email: str, redirect_to: str | None) -> str:
        """The app's sign-up page (an allowed redirect_to, else the site) with the token."""
        return with_query(self.redirects.resolve(redirect_to), invitation_token=token, email=email)

    def send(self, kind: MailKind, to: str, **context: Any) -> None:
        """Compose and deliver in the background; call only after the change committed."""
        task = asyncio.get_running_loop().create_task(self._deliver(kind, to, context))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, kind: MailKind, to: str, context: dict[str, Any]) -> None:
        try:
            await self.sender.send(compose(kind, to, sender=self.from_address, **context))
        except Exception as exc:  # logged, never raised: the change it announces stands
            log.error("mail not sent", kind=kind, to=to, error=f"{type(exc).__name__}: {exc}")
        else:
            log.info("mail sent", kind=kind, to=to)

    async def drain(self) -> None:
        """At shutdown: wait a little for the mails still being delivered."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=DRAIN_SECONDS)


def create_sender(settings: Settings) -> MailSender:
    """SMTP when GPTDESK_SMTP_HOST is set, else the dev outbox in the data dir."""
    if settings.smtp_host:
        return SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )
    return OutboxSender(settings.data_dir / "outbox")


def create_mailer(settings: Settings) -> Mailer:
    """The app's mailer, with the site URL and allow-list links may redirect to."""
    sender = create_sender(settings)
    if isinstance(sender, OutboxSender):
        log.warning(
            "GPTDESK_SMTP_HOST is not set: mails go to the log and the outbox",
            outbox=str(sender.folder),
        )
    return Mailer(
        sender,
        from_address=settings.smtp_from,
        base_url=settings.base_url,
        redirects=RedirectPolicy(
            settings.site_url or settings.base_url,
            tuple(settings.redirect_urls),
        ),
    )
