"""The data dir: creating it, proving it writable, and the lock that keeps one server on it."""

import fcntl
import os
import secrets
from pathlib import Path
from typing import IO

JWT_SECRET_FILE = "jwt_secret"
LOCK_FILE = "gptdesk.lock"


class DataDirError(Exception):
    """The data dir cannot be used; the message says why and what to do."""


class DataDirInUse(DataDirError):
    """Another GPT Desk process holds the data dir."""


class DataDir:
    """A folder holding the embedded cluster, the JWT secret and the server lock."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()
        self._lock_file: IO[str] | None = None

    def prepare(self) -> None:
        """Create the folder if needed and check that files can be written in it."""
        try:
            created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            if created and os.geteuid() == 0:
                # PostgreSQL runs unprivileged below it: it must be able to pass through.
                self.path.chmod(0o711)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise DataDirError(
                f"data dir {self.path} is not writable ({exc.strerror}); "
                "choose another with --data-dir or GPTDESK_DATA_DIR"
            ) from exc

    def lock(self) -> None:
        """Take the exclusive server lock, or raise DataDirInUse naming the holder."""
        handle = (self.path / LOCK_FILE).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirInUse(
                f"data dir {self.path} is in use by another GPT Desk process (pid {holder}); "
                "stop it first or choose another --data-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def unlock(self) -> None:
        """Release the server lock if held."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def jwt_secret(self) -> str:
        """The JWT secret kept in the data dir, created on first use (mode 0600)."""
        path = self.path / JWT_SECRET_FILE
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it a moment ago
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
        secret = path.read_text().strip()
        if len(secret) < 32:
            raise DataDirError(f"{path} holds a JWT secret shorter than 32 characters")
        return secret
