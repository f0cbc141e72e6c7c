"""A real SMTP server for tests — aiosmtpd on a loopback port — and the mail it received."""

import re
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gptdesk.auth.mail import KIND_HEADER
from gptdesk.db.embedded import free_port

_LINK = re.compile(r"https?://\S+")
_CODE = re.compile(r"code[^:\n]*: (\S+)")


class Mailbox:
    """An SMTP server collecting every message; optionally requiring a login."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.login = login
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []
        self._arrived = threading.Condition()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate if login else None,
            auth_require_tls=False,
        )

    def __enter__(self) -> "Mailbox":
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._controller.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.login is not None
        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.login
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the message."""
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def sent_to(self, address: str, kind: str | None = None) -> list[EmailMessage]:
        """The messages received for `address` (of `kind`), oldest first."""
        with self._arrived:
            return [
                m
                for m in self.messages
                if m["To"] == address and (kind is None or m[KIND_HEADER] == kind)
            ]

    def wait_for(
        self, address: str, kind: str | None = None, count: int = 1, timeout: float = 15.0
    ) -> EmailMessage:
        """The `count`-th message for `address` (of `kind`), waiting until it arrives."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(found := self.sent_to(address, kind)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail #{count} ({kind}) for {address}")
                self._arrived.wait(left)
        return found[count - 1]


def text_of(message: EmailMessage) -> str:
    """The plain-text part."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    """The HTML part."""
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage) -> str:
    """The first link of the plain-text part."""
    found = _LINK.search(text_of(message))
    assert found, text_of(message)
    return found.group(0)


def code_in(message: EmailMessage) -> str:
    """The token printed for typing in (the same as the link's)."""
    found = _CODE.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)
