"""Runs every benchmark of bench/ in turn (`make bench`); record the figures in RESULTS.md."""

import subprocess
import sys

BENCHMARKS = [
    "bench.footprint",
    "bench.scope_throughput",
    "bench.auth_signin",
    "bench.rls_helpers",
    "bench.rest_reads",
    "bench.chat_search",
    "bench.chat_gateway",
    "bench.storage_transfer",
    "bench.realtime_fanout",
    "bench.analytics_rollups",
]


def main() -> None:
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module, *sys.argv[1:]], check=True)


if __name__ == "__main__":
    main()
