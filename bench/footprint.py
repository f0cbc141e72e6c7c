"""Footprint: install time and venv size, cold and warm start, idle memory with PostgreSQL.

Usage: python -m bench.footprint [--no-cache]

Builds a fresh venv under bench/.work/, installs GPT Desk from this checkout (a real wheel
build, not editable), starts `gptdesk serve` on a new data dir (cold: initdb + migrate +
ready), stops it, starts again (warm), and reads the resident memory of the server and its
embedded PostgreSQL once idle (RSS and PSS summed over the process tree; PSS shares shared
pages fairly between processes, RSS counts them in each).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work" / "footprint"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def du_mb(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 1e6


def install(no_cache: bool) -> tuple[float, float]:
    venv = WORK / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    argv = [str(venv / "bin" / "pip"), "install", "--quiet", str(REPO)]
    if no_cache:
        argv.insert(3, "--no-cache-dir")
    subprocess.run(argv, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, du_mb(venv)


def start(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTDESK_")}
    env["GPTDESK_LOG_LEVEL"] = "warning"
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            str(WORK / "venv" / "bin" / "gptdesk"),
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def memory_mb(pid: int) -> tuple[float, float, int]:
    rss = pss = 0
    pids = tree(pid)
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss / 1024, pss / 1024, len(pids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="pip --no-cache-dir")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    WORK.chmod(0o711)
    install_s, venv_mb = install(args.no_cache)
    data_dir = WORK / f"data-{os.getpid()}"
    shutil.rmtree(data_dir, ignore_errors=True)
    port = free_port()
    process, cold_s = start(data_dir, port)
    stop(process)
    process, warm_s = start(data_dir, port)
    time.sleep(3)
    rss, pss, count = memory_mb(process.pid)
    stop(process)
    shutil.rmtree(data_dir, ignore_errors=True)
    result = {
        "install_s": round(install_s, 1),
        "pip_cache": not args.no_cache,
        "venv_mb": round(venv_mb),
        "cold_start_s": round(cold_s, 2),
        "warm_start_s": round(warm_s, 2),
        "idle_rss_mb": round(rss),
        "idle_pss_mb": round(pss),
        "processes": count,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
