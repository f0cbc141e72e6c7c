"""The `gptdesk` command end to end: keys, migrate --status, and every refusal as one line."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from gptdesk.db.embedded import free_port
from gptdesk.db.migrate import discover, migrations_dir
from tests.conftest import (
    LiveServer,
    MigratedDatabase,
    gptdesk_command,
    scratch_dir,
    stop_process,
    wait_healthy,
)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = scratch_dir("gptdesk-cli-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTDESK_")}
    return {**env, "GPTDESK_LOG_LEVEL": "warning", **extra}


def gptdesk(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        gptdesk_command(*args), env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert fragment in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr


def test_keys_json_are_signed_with_the_kept_secret(data_dir: Path) -> None:
    env = clean_env(GPTDESK_DATA_DIR=str(data_dir))
    first = json.loads(gptdesk("keys", "--json", env=env).stdout)
    again = json.loads(gptdesk("keys", "--json", env=env).stdout)
    assert first == again
    assert first["url"] == "http://127.0.0.1:8000"
    secret = (data_dir / "jwt_secret").read_text().strip()
    assert (data_dir / "jwt_secret").stat().st_mode & 0o777 == 0o600
    for key, role in (("anon_key", "anon"), ("service_role_key", "service_role")):
        claims = jwt.decode(first[key], secret, algorithms=["HS256"])
        assert claims["role"] == role and "sub" not in claims


def test_keys_follow_the_given_secret(data_dir: Path) -> None:
    env = clean_env(GPTDESK_DATA_DIR=str(data_dir), GPTDESK_JWT_SECRET="s" * 40)
    keys = json.loads(gptdesk("keys", "--json", env=env).stdout)
    assert jwt.decode(keys["anon_key"], "s" * 40, algorithms=["HS256"])["role"] == "anon"


def test_migrate_status_lists_every_shipped_migration(db: MigratedDatabase, data_dir: Path) -> None:
    env = clean_env(GPTDESK_DATA_DIR=str(data_dir), GPTDESK_DATABASE_URL=db.admin_dsn)
    result = gptdesk("migrate", "--status", env=env)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == [m.version for m in discover(migrations_dir())]
    assert "pending" not in result.stdout
    applied = gptdesk("migrate", env=env)
    assert applied.stdout.strip() == "applied 0 migration(s)"


def test_unreachable_database(data_dir: Path) -> None:
    env = clean_env(
        GPTDESK_DATA_DIR=str(data_dir),
        GPTDESK_DATABASE_URL=f"postgresql://nobody:pw@127.0.0.1:{free_port()}/nothing",
    )
    result = gptdesk("serve", "--port", str(free_port()), env=env)
    assert_one_line_error(result, "cannot reach PostgreSQL at postgresql://nobody:***@127.0.0.1")


def test_malformed_database_url(data_dir: Path) -> None:
    env = clean_env(GPTDESK_DATA_DIR=str(data_dir), GPTDESK_DATABASE_URL="mysql://x@y/z")
    result = gptdesk("serve", "--port", str(free_port()), env=env)
    assert_one_line_error(result, "invalid settings: database_url: Value error, must look like")


def test_wrong_password(data_dir: Path) -> None:
    cluster = scratch_dir("gptdesk-cli-pw-")
    env = clean_env(GPTDESK_DATA_DIR=str(cluster))
    keeper = subprocess.Popen(
        gptdesk_command("serve", "--port", str(free_port())),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (cluster / "postgres" / "postmaster.pid").exists():
            assert time.monotonic() < deadline and keeper.poll() is None
            time.sleep(0.1)
        port = (cluster / "postgres" / "postmaster.pid").read_text().splitlines()[3]
        env = clean_env(
            GPTDESK_DATA_DIR=str(data_dir),
            GPTDESK_DATABASE_URL=f"postgresql://postgres:wrong@127.0.0.1:{port}/postgres",
        )
        assert_one_line_error(
            gptdesk("serve", "--port", str(free_port()), env=env), "wrong password"
        )
    finally:
        stop_process(keeper)
        shutil.rmtree(cluster, ignore_errors=True)


def test_http_port_in_use(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gptdesk(
            "serve", "--port", str(port), env=clean_env(GPTDESK_DATA_DIR=str(data_dir))
        )
    assert_one_line_error(result, f"port {port} on 127.0.0.1 is already in use")
    assert not (data_dir / "postgres").exists()  # refused before anything was created


def test_unwritable_data_dir() -> None:
    env = clean_env(GPTDESK_DATA_DIR="/proc/gptdesk-data")
    assert_one_line_error(gptdesk("serve", "--port", str(free_port()), env=env), "not writable")


def test_data_dir_of_another_postgres_major(data_dir: Path) -> None:
    (data_dir / "postgres").mkdir()
    (data_dir / "postgres" / "PG_VERSION").write_text("15\n")
    result = gptdesk(
        "serve", "--port", str(free_port()), env=clean_env(GPTDESK_DATA_DIR=str(data_dir))
    )
    assert_one_line_error(result, "holds a PostgreSQL 15 cluster")


def test_invalid_setting_is_one_line(data_dir: Path) -> None:
    env = clean_env(GPTDESK_DATA_DIR=str(data_dir), GPTDESK_WORKERS="many")
    assert_one_line_error(gptdesk("serve", env=env), "invalid settings: workers")


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def alive(pid: int) -> bool:
    """True while the process runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_embedded_serve_lifecycle(data_dir: Path) -> None:
    """Serve on a new data dir; a second server is refused; SIGTERM stops both processes."""
    port = free_port()
    env = clean_env(GPTDESK_DATA_DIR=str(data_dir))
    output = data_dir / "server.out"
    with output.open("wb") as sink:
        server = subprocess.Popen(
            gptdesk_command("serve", "--port", str(port)), env=env, stdout=sink, stderr=sink
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server, output)
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["database"] == "ok" and health["migrations"]["current"] is True
        text = output.read_text()
        assert f"serving at http://127.0.0.1:{port}" in text and "anon key" in text
        pg = postmaster_pid(data_dir)

        second = gptdesk("serve", "--port", str(free_port()), env=env)
        assert_one_line_error(second, "is in use by another GPT Desk process")
    finally:
        code = stop_process(server)
    assert code == 0, output.read_text()
    assert not alive(pg)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_embedded_postgres_dies_with_a_killed_server(data_dir: Path) -> None:
    port = free_port()
    output = data_dir / "server.out"
    with output.open("wb") as sink:
        server = subprocess.Popen(
            gptdesk_command("serve", "--port", str(port)),
            env=clean_env(GPTDESK_DATA_DIR=str(data_dir)),
            stdout=sink,
            stderr=sink,
        )
    wait_healthy(f"http://127.0.0.1:{port}", server, output)
    pg = postmaster_pid(data_dir)
    server.send_signal(signal.SIGKILL)
    server.wait()
    deadline = time.monotonic() + 30
    while alive(pg) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pg)


def sign_in(url: str, anon_key: str, email: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/auth/v1/token?grant_type=password",
        headers={"apikey": anon_key},
        json={"email": email, "password": password},
    )


def test_user_create_bootstraps_a_super_admin(
    db: MigratedDatabase, server: LiveServer, data_dir: Path
) -> None:
    email = f"root-{os.getpid()}-{time.monotonic_ns()}@example.com"
    env = clean_env(
        GPTDESK_DATA_DIR=str(data_dir),
        GPTDESK_DATABASE_URL=db.admin_dsn,
        GPTDESK_JWT_SECRET=db.jwt_secret,
    )
    args = [
        "user",
        "create",
        "--email",
        email,
        "--password",
        "correct-horse-9",
        "--role",
        "super_admin",
        "--name",
        "Root Admin",
    ]
    created = gptdesk(*args, env=env)
    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout and "super_admin" in created.stdout
    assert sign_in(server.url, server.anon_key, email, "correct-horse-9").status_code == 200
    again = gptdesk(*args, env=env)
    assert_one_line_error(again, "already been registered")


def test_user_create_refuses_bad_input(db: MigratedDatabase, data_dir: Path) -> None:
    env = clean_env(
        GPTDESK_DATA_DIR=str(data_dir),
        GPTDESK_DATABASE_URL=db.admin_dsn,
        GPTDESK_JWT_SECRET=db.jwt_secret,
    )
    weak = gptdesk("user", "create", "--email", "w@example.com", "--password", "short", env=env)
    assert_one_line_error(weak, "at least 8 characters")
    role = gptdesk(
        "user",
        "create",
        "--email",
        "w@example.com",
        "--password",
        "long-enough-1",
        "--role",
        "owner",
        env=env,
    )
    assert_one_line_error(role, "--role must be")


def test_user_create_beside_a_running_embedded_server(data_dir: Path) -> None:
    port = free_port()
    env = clean_env(GPTDESK_DATA_DIR=str(data_dir))
    output = data_dir / "server.out"
    with output.open("wb") as sink:
        server = subprocess.Popen(
            gptdesk_command("serve", "--port", str(port)), env=env, stdout=sink, stderr=sink
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, output)
        created = gptdesk(
            "user",
            "create",
            "--email",
            "first@example.com",
            "--password",
            "correct-horse-9",
            "--role",
            "super_admin",
            env=env,
        )
        assert created.returncode == 0, created.stderr
        anon = json.loads(gptdesk("keys", "--json", env=env).stdout)["anon_key"]
        assert sign_in(url, anon, "first@example.com", "correct-horse-9").status_code == 200
    finally:
        stop_process(server)
