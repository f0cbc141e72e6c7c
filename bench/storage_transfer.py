"""Upload and download speed of /storage/v1 (local backend) beside a plain `cp`.

Usage: python -m bench.storage_transfer [--sizes 1,100,1024] [--tries 3] [--keep-files]

For each size (MB) a file of random bytes is made in a scratch folder on the same disk as
the server's data dir; then, `tries` times each, the median of:

  cp        `cp` of the file to a new name (the disk's own speed for that file)
  upload    `curl -T file` → PUT /storage/v1/object/bench/<name> (raw body, streamed),
            with the service-role key: the server streams it to a temporary file, hashes
            it and renames it into place, then records the row
  download  `curl -o copy` ← GET /storage/v1/object/bench/<name>

curl is the client so that the client's CPU is small and the same for both directions. The
server's resident memory is sampled every 20 ms during each transfer (the whole process
tree of `gptdesk serve`, PostgreSQL excluded): reported as the peak above its idle RSS
before the transfer. Ratios are transfer MB/s over cp MB/s (target ≥ 0.8), memory target:
flat, < 100 MB above idle for 1 GB. Set GPTDESK_BENCH_DATABASE_URL to use an existing
cluster instead of an embedded one.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.common import BENCH_SECRET, bench_database, start_server, stop_server
from gptdesk.auth.keys import project_keys

BUCKET = "bench"
MB = 1 << 20


def tree(pid: int) -> list[int]:
    """`pid` and its descendants, PostgreSQL's processes excluded."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent in found and comm not in ("postgres", "pg_ctl"):
            found.append(int(entry.name))
    return found


def rss_mb(pids: list[int]) -> float:
    """Resident memory of `pids`, MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class PeakMemory:
    """Samples the server's RSS every 20 ms while in use; the peak."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pids))
            time.sleep(0.02)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pids))


def timed(command: list[str]) -> float:
    """Seconds `command` took; it must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def make_file(path: Path, size_mb: int) -> None:
    """`size_mb` MB of random bytes at `path`."""
    with path.open("wb") as sink:
        for _ in range(size_mb):
            sink.write(os.urandom(MB))


def measure(
    url: str, key: str, server_pids: list[int], scratch: Path, size_mb: int, tries: int
) -> dict:
    """cp, upload and download of one size; medians and peak memory above idle."""
    source = scratch / f"source-{size_mb}.bin"
    make_file(source, size_mb)
    headers = ["-H", f"apikey: {key}", "-H", f"Authorization: Bearer {key}"]
    target = f"{url}/storage/v1/object/{BUCKET}/file-{size_mb}.bin"
    cp, up, down, peaks = [], [], [], []
    for attempt in range(tries):
        copy = scratch / f"copy-{attempt}.bin"
        subprocess.run(["sync"], check=True)
        cp.append(timed(["cp", str(source), str(copy)]))
        copy.unlink()
        subprocess.run(["sync"], check=True)
        idle = rss_mb(server_pids)
        with PeakMemory(server_pids) as memory:
            up.append(
                timed(["curl", "-sf", "-T", str(source), *headers,
                       "-H", "content-type: application/octet-stream", target])
            )  # fmt: skip
        peaks.append(memory.peak - idle)
        subprocess.run(["sync"], check=True)
        idle = rss_mb(server_pids)
        with PeakMemory(server_pids) as memory:
            down.append(timed(["curl", "-sf", *headers, "-o", str(copy), target]))
        peaks.append(memory.peak - idle)
        if copy.stat().st_size != source.stat().st_size:
            raise SystemExit("the download does not match the upload")
        copy.unlink()
    source.unlink()
    cp_s, up_s, down_s = (statistics.median(t) for t in (cp, up, down))
    return {
        "size_mb": size_mb,
        "cp_mb_s": round(size_mb / cp_s, 1),
        "upload_mb_s": round(size_mb / up_s, 1),
        "download_mb_s": round(size_mb / down_s, 1),
        "upload_ratio": round(cp_s / up_s, 2),
        "download_ratio": round(cp_s / down_s, 2),
        "peak_rss_above_idle_mb": round(max(peaks), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1024", help="file sizes in MB")
    parser.add_argument("--tries", type=int, default=3)
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    if not shutil.which("curl"):
        raise SystemExit("curl is needed (apt-get install curl)")
    async with bench_database() as database:
        scratch = Path(tempfile.mkdtemp(prefix="gptdesk-bench-storage-", dir="/tmp"))
        data_dir = scratch / "data"
        server, url = start_server(
            database.admin_dsn, data_dir, storage_max_file_bytes=str(4 << 30)
        )
        try:
            key = project_keys(BENCH_SECRET).service_role_key
            headers = {"apikey": key, "Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient() as client:
                created = await client.post(
                    f"{url}/storage/v1/bucket", json={"id": BUCKET, "name": BUCKET}, headers=headers
                )
            created.raise_for_status()
            pids = tree(server.pid)
            print(f"# server idle RSS {rss_mb(pids):.0f} MB; data dir {data_dir}", flush=True)
            for size in sizes:
                point = measure(url, key, pids, scratch, size, options.tries)
                print(json.dumps(point), flush=True)
        finally:
            stop_server(server)
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
