"""The analytics bench's report: its section of bench/RESULTS.md."""

import os
import platform
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import gptdesk
from bench.analytics_world import (
    BATCH,
    GPTS_PER_TEAM,
    QUERIES,
    RANGE_DAYS,
    USERS_PER_TEAM,
    WRITE_BATCH,
    WRITE_VARIANTS,
    World,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Analytics rollups (issue 8)"
NOTES = ("<!-- notes -->", "<!-- /notes -->")
TIMES = "\N{MULTIPLICATION SIGN}"

# ----------------------------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------------------------


def machine() -> str:
    """nproc, CPU model, RAM, kernel, Python."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores ({cpu}), {kib / 2**20:.0f} GiB RAM, Linux "
        f"{platform.release()} {platform.machine()}, Python {platform.python_version()}"
    )


def _ms(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _ratio(value: float) -> str:
    return (f"{value:,.0f}" if value >= 10 else f"{value:.1f}") + TIMES


def _times(point: dict[str, Any] | None, n: bool = False) -> str:
    if point is None:
        return "—"
    text = f"{_ms(point['p50_ms'])} / {_ms(point['p99_ms'])}"
    return text + (f" (n={point['n']})" if n else "")


def code_version() -> str:
    """The commit measured, and whether src/ or migrations/ differed from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "src", "migrations")
    version = f"`{commit}`" + (" with uncommitted changes in src/ or migrations/" if dirty else "")
    imported = Path(gptdesk.__file__).resolve().parents[1]
    if imported != Path(__file__).resolve().parents[1] / "src":
        version += f" (gptdesk and its migrations imported from {imported.parent})"
    return version


def _wrap(lines: list[str], width: int = 92) -> list[str]:
    """Prose lines filled to `width` (as the rest of RESULTS.md); tables left alone."""
    wrapped = []
    for line in lines:
        if not line or line.startswith(("|", "#")):
            wrapped.append(line)
            continue
        indent = "  " if line.startswith("- ") else ""
        options = {"break_long_words": False, "break_on_hyphens": False}
        wrapped.append(textwrap.fill(line, width, subsequent_indent=indent, **options))
    return wrapped


def report(
    version: str,
    server: str,
    world: World,
    size: dict[str, Any],
    reads: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    steps: dict[str, dict[str, float]],
    writes: dict[str, dict[str, Any]],
) -> str:
    """The RESULTS.md section (without the kept notes)."""
    by = {(p["caller"], p["query"], p["way"]): p for p in reads}
    command = " ".join(["python -m bench.analytics_rollups", *sys.argv[1:]])
    if os.environ.get("GPTDESK_BENCH_DATABASE_URL"):
        command = "GPTDESK_BENCH_DATABASE_URL=… " + command
    other = max(p["other_cores"] for p in reads)
    loaded = (
        f"loaded by an earlier `--keep` run in {world.load_seconds:,.0f} s"
        if world.reused
        else f"loaded in **{world.load_seconds:,.0f} s** ({world.rows / world.load_seconds:,.0f}"
        " rows/s)"
    )
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/{command}`, {datetime.now().strftime('%Y-%m-%d %H:%M')}, "
        f"{server}, the code of {version}. Machine: {machine()}; other work on the "
        f"machine took up to {other:.2f} of a core during the read measurements.",
        "",
        f"World: {world.teams:,} teams of {USERS_PER_TEAM} users and {GPTS_PER_TEAM} GPTs each, "
        f"**{world.rows:,} usage rows** over {world.days} days, {loaded} in batches of "
        f"{BATCH:,} with the rollup triggers on (count_gpt_monthly_usage off; rebuilt after). "
        f"usage_analytics with its indexes: {size['usage_analytics_gb']} GB; rollup rows: "
        f"organization {size['usage_daily_totals']:,}, teams {size['usage_daily_teams']:,}, "
        f"GPTs {size['usage_daily_gpts']:,}, users {size['usage_daily_users']:,}, GPTs' "
        f"running totals {size['gpt_running_totals']:,}, users' active days "
        f"{size['user_active_days']:,}. Reads: {world.range.start} to {world.range.end} "
        f"({RANGE_DAYS} days; the dashboard also reads the 30 days before).",
        "",
        "p50 / p99 ms (naive ones: n runs). Speedup: the naive p50 over the HTTP p50.",
        "",
        "| caller | query | HTTP | service (no HTTP) | naive, as caller (RLS) "
        "| naive, as caller + team filter | naive, as owner | speedup vs naive as caller "
        "/ + filter / owner |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for caller in ("super admin", "team admin"):
        for query in QUERIES:
            http = by[(caller, query, "http")]
            naive = [by.get((caller, query, w)) for w in ("naive_role", "naive_role_team")]
            naive.append(by[(caller, query, "naive_owner")])
            speed = " / ".join(_ratio(p["p50_ms"] / http["p50_ms"]) if p else "—" for p in naive)
            lines.append(
                f"| {caller} | {query} | **{_times(http)}** "
                f"| {_times(by[(caller, query, 'service')])} | {_times(naive[0], True)} "
                f"| {_times(naive[1], True)} | {_times(naive[2], True)} | {speed} |"
            )
            fast = "met" if http["p50_ms"] <= 50 else "**missed**"
            ratios = [p["p50_ms"] / http["p50_ms"] for p in naive if p]
            ahead = "met" if min(ratios) >= 100 else "**missed**"
            verdicts.append(
                f"- {caller}, {query}: ≤ 50 ms p50 over HTTP {fast} ({_ms(http['p50_ms'])} ms); "
                f"≥ 100{TIMES} faster than the naive query {ahead} "
                f"({' / '.join(_ratio(r) for r in ratios)})"
            )
    lines += ["", "Targets (HTTP p50; speedup against every naive variant measured):", *verdicts]
    lines += ["", "Where the dashboard's time goes (median ms of each statement, service):", ""]
    names = list(next(iter(steps.values())))
    lines += ["| caller | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for caller, found in steps.items():
        lines.append(f"| {caller} | " + " | ".join(_ms(found[n]) for n in names) + " |")
    lines += ["", "Figures: the rollups' answers against the raw rows' in the same run:"]
    for check in checks:
        same = (
            "equal" if check["figures_equal"] else f"**different: {', '.join(check['different'])}**"
        )
        lines.append(
            f"- {check['caller']} ({check['requests']:,} requests in the range): requests, "
            f"failures, tokens, cost, average, active users, top GPTs, daily series {same}; "
            f"p95 {check['p95_rollup_ms']} ms from the histogram against "
            f"{check['p95_exact_ms']} ms exact (per day: worst ratio "
            f"{check['p95_by_day_worst_ratio']})"
        )
    lines += [
        "",
        f"Writes ({writes[next(iter(WRITE_VARIANTS))]['n']:,} single-row inserts per variant, "
        "interleaved in 10 rounds; the server-side figure is the same single-row INSERT run "
        f"as separate statements in a PL/pgSQL loop, rolled back; batches of {WRITE_BATCH:,} "
        "rows by INSERT … SELECT, rolled back, median of 3):",
        "",
        "| insert triggers | single-row insert + commit, mean µs (p50 / p99) "
        "| server-side single-row statement µs | 10,000-row batch: µs/row (rows/s) |",
        "|---|---|---|---|",
    ]
    for name, w in writes.items():
        lines.append(
            f"| {name} | {w['client_mean_us']:,} ({w['client_p50_us']:,} / "
            f"{w['client_p99_us']:,}) | {w['in_server_us_per_row']} | "
            f"{w['batch_us_per_row']} ({w['batch_rows_per_s']:,}) |"
        )
    full, bare = (writes[name] for name in list(WRITE_VARIANTS)[:2])
    lines += [
        "",
        "**The rollup triggers add "
        f"{full['client_mean_us'] - bare['client_mean_us']:,} µs per single-row insert with "
        f"its commit** (p50 {full['client_p50_us'] - bare['client_p50_us']:,} µs), "
        f"{full['in_server_us_per_row'] - bare['in_server_us_per_row']:.1f} µs per single-row "
        "statement inside PostgreSQL, and "
        f"{full['batch_us_per_row'] - bare['batch_us_per_row']:.1f} µs per row in "
        f"{WRITE_BATCH:,}-row batches.",
        "",
    ]
    return "\n".join(_wrap(lines))


def record(section: str) -> None:
    """Replace (or append) the section in RESULTS.md, keeping its hand-written notes."""
    text = RESULTS.read_text()
    notes = f"{NOTES[0]}\n{NOTES[1]}\n"
    if SECTION in text:
        start = text.index(SECTION)
        following = text.find("\n## ", start + len(SECTION))
        end = len(text) if following < 0 else following + 1
        old = text[start:end]
        if NOTES[0] in old and NOTES[1] in old:
            notes = old[old.index(NOTES[0]) : old.index(NOTES[1]) + len(NOTES[1])] + "\n"
        rest = text[end:]
        text = text[:start] + section + "\n" + notes + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n" + notes
    RESULTS.write_text(text)
