"""Turning a run's results into the terminal table, docs/benchmarks.md and the listing plot.

``evaluate`` checks the issue's targets against the figures; the markdown states each target,
what was measured, and whether it was met, then the tables the figures came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.workload import GRANTS_PER_REPO, PENDING, POINT_OPS, REPOS

#: adapter / raw psycopg targets: point operations, and the listing (which also builds views)
POINT_TARGET = 0.95
LISTING_TARGET = 0.90
SCALE_TARGET = 2.0
#: a listing slower than this is no longer an interactive page load
INTERACTIVE_MS = 100.0
#: an open slower than this makes every restart of git-proxy a visible outage
OPEN_BUDGET_S = 10.0
BACKEND_ORDER = ("memory", "fs", "postgres", "mongomock")
#: backends compared with git-proxy's own sink (benchmarks/compare.py), and the target ratio
UPSTREAM_KINDS = ("postgres", "fs")
UPSTREAM_TARGET = 1.0
COLOURS = {"memory": "tab:blue", "fs": "tab:green", "postgres": "tab:purple",
           "mongomock": "tab:orange"}


def _ms(ns: float) -> str:
    ms = ns / 1e6
    return f"{ms:.3f}" if ms < 1 else f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}"


def _ops(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _point(result: dict[str, Any], stored: int) -> dict[str, Any] | None:
    return next((p for p in result if p["stored"] == stored), None)


# --- targets ------------------------------------------------------------------------------------

def _raw_target(op: str) -> float:
    return LISTING_TARGET if op == "get_pushes" else POINT_TARGET


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    pg = results.get("backends", {}).get("postgres")
    if pg and "points" in pg:
        for op in POINT_OPS:
            entry = pg["points"]["ops"].get(op)
            if entry:
                ratio, goal = entry["adapter_vs_raw_prepared"], _raw_target(op)
                checks.append({"target": f"postgres {op}: adapter >= {goal:.0%} of raw psycopg "
                                         "(prepared statements, as the adapter runs)",
                               "measured": ratio, "shown": f"{ratio:.0%}",
                               "met": ratio >= goal})
    if pg and pg.get("scale"):
        small, big = _point(pg["scale"], 1000), _point(pg["scale"], 100_000)
        if small and big:
            ratio = big["median_ns"] / small["median_ns"]
            checks.append({"target": "postgres default listing: 100 000 stored within 2x of 1 000",
                           "measured": ratio, "shown": f"{ratio:.2f}x",
                           "met": ratio <= SCALE_TARGET})
    checks += _upstream_targets(results)
    checks += _fs_targets(results)
    return checks


#: fs targets of issue 17: listing 50 of 100 000 within 1.5x of 50 of 1 000; open and peak RSS
#: at least as good as NeDB's on the same file
FS_SCALE_TARGET = 1.5


def _fs_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    up = results.get("backends", {}).get("fs", {}).get("upstream") or {}
    for label, row in up.get("rows", {}).items():
        if "kit_os_vs_upstream" in row:
            ratio = row["kit_os_vs_upstream"]
            checks.append({"target": f"fs {label}, durability os (NeDB's): kit >= 1.0x NeDB "
                                     f"@{up['commit']}",
                           "measured": ratio, "shown": f"{ratio:.2f}x",
                           "met": ratio >= UPSTREAM_TARGET})
    pair = results.get("backends", {}).get("fs", {}).get("listing_pair")
    scale = results.get("backends", {}).get("fs", {}).get("scale") or []
    small, big = _point(scale, 1000), _point(scale, 100_000)
    if pair:  # interleaved: the figure the target is judged on
        ratio, (lo, hi) = pair["cost_ratio"], pair["cost_ratio_iqr"]
        checks.append({"target": f"fs default listing: 50 of {pair['large']:,} within 1.5x of "
                                 f"50 of {pair['small']:,} (interleaved)",
                       "measured": ratio, "shown": f"{ratio:.2f}x (IQR {lo:.2f}-{hi:.2f})",
                       "met": ratio <= FS_SCALE_TARGET})
    elif small and big:
        ratio = big["median_ns"] / small["median_ns"]
        checks.append({"target": "fs default listing: 50 of 100 000 within 1.5x of 50 of 1 000",
                       "measured": ratio, "shown": f"{ratio:.2f}x",
                       "met": ratio <= FS_SCALE_TARGET})
    vs = (results.get("fs_open") or {}).get("vs_nedb")
    if vs:
        for key, what in (("open_ratio", "open"), ("open_compact_ratio", "open + compaction")):
            checks.append({"target": f"fs {what} of {results['fs_open']['pushes']:,} pushes: "
                                     "kit >= 1.0x NeDB's load (which compacts)",
                           "measured": vs[key], "shown": f"{vs[key]:.2f}x",
                           "met": vs[key] >= UPSTREAM_TARGET})
        ratio = vs.get("rss_with_compaction_ratio", vs["rss_ratio"])
        checks.append({"target": "fs peak RSS opening (and compacting) the same file: kit <= "
                                 "NeDB's load",
                       "measured": ratio, "shown": f"{ratio:.2f}x", "met": ratio <= 1.0})
    return checks


def _upstream_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for kind in UPSTREAM_KINDS:
        up = results.get("backends", {}).get(kind, {}).get("upstream")
        if not up:
            continue
        for label, row in up["rows"].items():
            if "kit_os_vs_upstream" in row:
                continue  # an fs write: judged under NeDB's durability (_fs_targets)
            ratio = row["kit_vs_upstream"]
            checks.append({"target": f"{kind} {label}: kit >= 1.0x git-proxy's own sink "
                                     f"@{up['commit']}",
                           "measured": ratio, "shown": f"{ratio:.2f}x",
                           "met": ratio >= UPSTREAM_TARGET})
    return checks


# --- fs practicality ----------------------------------------------------------------------------

def fs_limits(fs_scale: list[dict[str, Any]]) -> dict[str, Any]:
    """Where fs crosses the interactive listing budget and the open budget, by linear fit."""
    if len(fs_scale) < 2:
        return {}
    first, last = fs_scale[0], fs_scale[-1]
    span = last["stored"] - first["stored"]
    per_push_ns = (last["median_ns"] - first["median_ns"]) / span if span else 0
    out: dict[str, Any] = {"listing_ns_per_stored_push": per_push_ns}
    if per_push_ns > 0:
        out["stored_at_interactive_limit"] = int(INTERACTIVE_MS * 1e6 / per_push_ns)
    if first.get("open_s") is not None and last.get("open_s") is not None and span:
        open_per_push = (last["open_s"] - first["open_s"]) / span
        out["open_s_per_stored_push"] = open_per_push
        if open_per_push > 0:
            out["stored_at_open_budget"] = int(OPEN_BUDGET_S / open_per_push)
    return out


# --- terminal -----------------------------------------------------------------------------------

def terminal(results: dict[str, Any]) -> str:
    lines = []
    backends = [b for b in BACKEND_ORDER if b in results.get("backends", {})]
    if any("points" in results["backends"][b] for b in backends):
        lines.append("ops/s (median)        " + "".join(f"{b:>12}" for b in backends)
                     + ("   pg raw  ratio" if "postgres" in backends else ""))
        for op in POINT_OPS:
            row = f"{op:<22}"
            for b in backends:
                entry = results["backends"][b].get("points", {}).get("ops", {}).get(op)
                row += f"{_ops(entry['adapter']['ops_per_s']) if entry else '-':>12}"
            pg = results["backends"].get("postgres", {}).get("points", {}).get("ops", {}).get(op)
            if pg:
                row += (f"{_ops(pg['raw_prepared']['ops_per_s']):>9}  "
                        f"{pg['adapter_vs_raw_prepared']:5.0%}")
            lines.append(row)
    for b in backends:
        for series in ("scale", "all_pending"):
            for p in results["backends"][b].get(series) or []:
                lines.append(f"listing {b:<9} {series:<11} {p['stored']:>9,} stored "
                             f"{p['listed']:>7,} listed {_ms(p['median_ns']):>9} ms")
    fo = results.get("fs_open")
    if fo:
        before, after = fo["bytes_before_compaction"], fo["bytes_after_compaction"]
        lines.append(f"fs open {fo['pushes']:,} pushes: {fo['open_s']:.2f} s, peak RSS "
                     f"{fo['peak_rss_kb'] / 1024:.0f} MiB, {before / 2**20:.1f} MiB -> "
                     f"{after / 2**20:.1f} MiB compacted")
    for lane, s in (results.get("suite") or {}).get("lanes", {}).items():
        one, two = s["runs"]
        lines.append(f"suite {lane:<10} -n1 {one['wall_s']:6.1f} s  -n2 {two['wall_s']:6.1f} s  "
                     f"provisioning {s['start_s']:.2f} s")
    for kind in UPSTREAM_KINDS:
        up = results.get("backends", {}).get(kind, {}).get("upstream")
        for label, row in (up or {}).get("rows", {}).items():
            lo, hi = row["kit_vs_upstream_iqr"]
            lines.append(f"{kind} vs git-proxy @{up['commit']} {label:<22} kit/upstream "
                         f"{row['kit_vs_upstream']:.2f} (IQR {lo:.2f}-{hi:.2f})")
    for check in results.get("targets", []):
        lines.append(f"{'MET ' if check['met'] else 'MISS'} {check['target']}: {check['shown']}")
    return "\n".join(lines)


# --- plot ---------------------------------------------------------------------------------------

def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for b in BACKEND_ORDER:
        series = results.get("backends", {}).get(b, {})
        for key, style, label in (("scale", "-o", f"{b}: {PENDING} pending listed"),
                                  ("all_pending", ":s", f"{b}: every stored push listed")):
            pts = series.get(key) or []
            if not pts:
                continue
            xs = [p["stored"] for p in pts]
            ys = [p["median_ns"] / 1e6 for p in pts]
            err = [[(p["median_ns"] - p["q1_ns"]) / 1e6 for p in pts],
                   [(p["q3_ns"] - p["median_ns"]) / 1e6 for p in pts]]
            ax.errorbar(xs, ys, yerr=err, fmt=style, capsize=3, label=label, color=COLOURS[b],
                        alpha=0.55 if key == "all_pending" else 1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pushes stored")
    ax.set_ylabel("default get_pushes() latency, ms (median, IQR bars)")
    ax.set_title(f"Default listing vs stored pushes — {results['machine']['date']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# --- markdown -----------------------------------------------------------------------------------

def markdown(results: dict[str, Any], plot_name: str | None) -> str:
    m = results["machine"]
    pg = results.get("backends", {}).get("postgres", {})
    out = [
        "# Benchmarks",
        "",
        f"Generated by `nox -s bench` (`python benchmarks/run.py {_flag(results['profile'])}`) on "
        f"{m['date']}. Do not edit by hand: rerun the session. Nothing in the test suite asserts "
        "a duration; these figures are for backend authors and reviewers.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu_model']} |",
        f"| cores | {m['cores']} |",
        f"| memory | {m['memory_mib']:,} MiB |" if m.get("memory_mib") else "| memory | ? |",
        f"| Python | {m['python']} on {m['platform']} |",
        f"| PostgreSQL | {pg.get('server_version', 'not run')} ({pg.get('describe', '-')}) |",
        f"| PostgreSQL durability | {_settings(pg.get('settings'))} |",
        f"| drivers | psycopg {m['packages']['psycopg']}, pymongo {m['packages']['pymongo']}, "
        f"mongomock {m['packages']['mongomock']} |",
        f"| load average (1/5/15 min) | start {_load(m['load_average_at_start'])}, end "
        f"{_load(m.get('load_average_at_end'))} |",
        f"| wall time of this run | {results.get('wall_s', 0):.0f} s |",
        "",
        "A load average above the core count means other work shared the CPUs during the run: "
        "absolute figures then understate the machine, while the same-run ratios (which time "
        "both sides in interleaved rounds) remain comparable.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for check in results.get("targets", []):
        met = "yes" if check["met"] else "**no**"
        out.append(f"| {check['target']} | {check['shown']} | {met} |")
    out += _shortfalls_md(results)
    out += _method(results)
    out += _points_md(results)
    out += _pg_raw_md(pg)
    out += _upstream_md(results)
    out += _fs_nedb_md(results)
    out += _scale_md(results, plot_name)
    out += _fs_md(results)
    out += _suite_md(results)
    return "\n".join(out) + "\n"


def _settings(settings: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) if settings else "-"


def _flag(profile: str) -> str:
    return f"--{profile}" if profile in ("quick", "full") else f"--profile {profile}"


def _load(values: list[float] | None) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "?"


def _method(results: dict[str, Any]) -> list[str]:
    p = results["profile_settings"]
    return [
        "",
        "## How it is measured",
        "",
        "- A small harness (`benchmarks/timing.py`) times batches of calls with "
        "`time.perf_counter_ns`, after a warm-up that also calibrates the batch size, and reports "
        f"the median per-call latency over {p['rounds']} rounds with its interquartile range. "
        "pytest-benchmark and pyperf were considered: every figure here is a ratio within one run "
        "(adapter against raw psycopg on the same live database, 100 000 stored against 1 000), "
        "so both sides are timed in one process in interleaved rounds (A B A B ...) to share any "
        "drift; pyperf's fresh worker processes would each need the database provisioned and "
        "seeded, and pytest-benchmark would put timings into the pytest run, which this project "
        "keeps free of durations.",
        "- memory, fs and mongomock are opened through the harness their conformance lane uses "
        "(`sinkkit.fixtures`), on fresh isolated storage; mongomock is in-process. postgres runs "
        "on the server `provision_postgres` gives (`SINKKIT_POSTGRES_DSN` if set, else a "
        "container, else embedded PostgreSQL 16), but not through the lane's harness, which "
        "turns `fsync`, `synchronous_commit` and `full_page_writes` off on embedded servers to "
        "speed tests up: the benchmark keeps the server's durable defaults (recorded above) and "
        "opens every store with `open_postgres_sink` in a schema of its own.",
        f"- Point operations run on a store seeded through the adapter with "
        f"{p['seed_pushes']:,} pushes ({PENDING} pending review, the rest settled), 100 users, "
        f"{p.get('repos', REPOS)} repos and 100 sessions. Writes and reviews cycle over settled "
        "pushes, so the "
        "pending list keeps its size. `write_audit` re-writes an existing push (git-proxy writes "
        "each push at every step of its chain); `add_user_can_push` adds a name not listed yet, "
        f"the repos in turn, up to {GRANTS_PER_REPO} names each (git-proxy's fs sink returns "
        "without writing for a name already listed, so repeating grants would time that early "
        "return against a write); `session_set` rewrites existing sessions.",
        f"- **The default listing.** `get_pushes()` is the pending-review query, and like "
        "git-proxy's own `getPushes` it has no limit: it returns every pending push. What the "
        f"issue calls \"latest 50\" is measured as the store holding {PENDING} pending pushes "
        "(one review screen) among all the others, so the listing returns 50 documents however "
        "many are stored. A second series stores only pending pushes, where the answer is the "
        "whole store; its cost grows with the store on every backend, by construction. Paging "
        "(a `limit`, or `limit` + `before` cursor on (timestamp, id)) would be an API change, "
        "not made here.",
        "- For postgres the same operations also run directly on psycopg with the SQL the "
        "adapter sends, captured from the adapter at run time (`benchmarks/pg_raw.py`), so the "
        "statements cannot drift. `raw_prepared` uses the adapter's connection settings "
        "(autocommit, psycopg's default of server-side prepared statements after five "
        "executions) and is the targets' baseline; `raw` sends every statement unprepared, as "
        "the adapter does with `preparedStatements: false`; `libpq runner` is the adapter's "
        "own statement runner (`adapters/postgres/wire.py`) on a held connection, the floor "
        "of the adapter's path. During this "
        "comparison the benchmark process is pinned to one CPU and every server backend of the "
        "benchmark database to another (`benchmarks/points.py`, `pinned`): left to the "
        "scheduler, a client and backend that share a core answer up to twice as fast, and "
        "since that placement is fixed per connection for a whole run it moved one operation's "
        "ratio between 52 % and 88 % from run to run.",
        "- Bulk loads bypass the adapter: COPY for postgres (then `ANALYZE`, as autovacuum would "
        "soon after), the adapter's own codec and serializer appending NeDB lines for fs, "
        "`insert_many` on the adapter's collection for mongomock; memory is filled through "
        "`write_audit`.",
    ]


def _points_md(results: dict[str, Any]) -> list[str]:
    backends = [b for b in BACKEND_ORDER if "points" in results.get("backends", {}).get(b, {})]
    if not backends:
        return []
    out = ["", "## Point operations, ops/s (median, IQR as % of median)", "",
           "| operation | " + " | ".join(backends) + " |",
           "|---|" + "---:|" * len(backends)]
    for op in POINT_OPS:
        cells = []
        for b in backends:
            e = results["backends"][b]["points"]["ops"][op]["adapter"]
            cells.append(f"{_ops(e['ops_per_s'])} ±{e['iqr_pct']:.0f}%")
        out.append(f"| `{op}` | " + " | ".join(cells) + " |")
    out += ["", "fs writes (`write_audit`, `authorise`, `add_user_can_push`, `session_set`) "
            "fsync each change before returning; postgres writes wait for the WAL flush of "
            "their commit. Reads on memory and fs are dictionary lookups under one lock."]
    return out


def _pg_raw_md(pg: dict[str, Any]) -> list[str]:
    ops = pg.get("points", {}).get("ops", {})
    if not ops or "raw" not in next(iter(ops.values())):
        return []
    wired = "raw_wire" in next(iter(ops.values()))
    out = ["", "## postgres: adapter against raw psycopg, same SQL, same run", "",
           "| operation | adapter ops/s | raw prepared ops/s | adapter / raw prepared (IQR) "
           "| raw unprepared ops/s | adapter / raw unprepared |"
           + (" libpq runner ops/s | adapter / libpq runner (IQR) |" if wired else ""),
           "|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if wired else "")]
    for op in POINT_OPS:
        e = ops[op]
        ratio = e["adapter_vs_raw_prepared"]
        mark = "" if ratio >= _raw_target(op) else " ✗"
        lo, hi = e.get("adapter_vs_raw_prepared_iqr", [ratio] * 2)
        line = (f"| `{op}` | {_ops(e['adapter']['ops_per_s'])} "
                f"| {_ops(e['raw_prepared']['ops_per_s'])} "
                f"| {ratio:.0%}{mark} ({lo:.0%} to {hi:.0%}) "
                f"| {_ops(e['raw']['ops_per_s'])} | {e['adapter_vs_raw']:.0%} |")
        if wired:
            wlo, whi = e["adapter_vs_raw_wire_iqr"]
            line += (f" {_ops(e['raw_wire']['ops_per_s'])} | {e['adapter_vs_raw_wire']:.0%} "
                     f"({wlo:.0%} to {whi:.0%}) |")
        out.append(line)
    out += ["", "The ratio is the median over rounds of (raw batch time / adapter batch time), "
            "each pair timed back to back, so it is robust to load that comes and goes; the "
            "ops/s columns are each side's own median. The adapter prepares its statements on "
            "the server (psycopg's threshold of five runs, `preparedStatements`, on by default), "
            "so `raw prepared` runs the same way and is the baseline: "
            f"{POINT_TARGET:.0%} for point operations, {LISTING_TARGET:.0%} for `get_pushes`, "
            "where the adapter also builds the list view of each document. `raw unprepared` is "
            "what `preparedStatements: false` (behind a pooler) gives up. The adapter sends "
            "each autocommit statement through libpq's own calls and reads the reply with a "
            "bounded spin (`adapters/postgres/wire.py`, `spinWait`), where psycopg's cursor "
            "sleeps in `poll` and is woken for every reply: so on a local server the adapter "
            "is faster than raw psycopg on reads. `libpq runner` is that same runner on a held "
            "connection with the same statements, the floor of the adapter's own path: the "
            "distance to it is the sink (pool checkout, input rules, encoding, list view)."]
    if pg["points"].get("placement"):
        out += ["", f"CPU placement during the comparison: {pg['points']['placement']}."]
    b = pg["points"].get("breakdown") or {}
    if b:
        out += ["", "Where the adapter's extra time goes, measured piece by piece in the same run:",
                "", "| piece | µs per call |", "|---|---:|",
                f"| the adapter's connection plumbing around the statement: pool checkout and "
                f"return, staleness check, error mapping (`get_push` through the adapter's "
                f"`_connection()` minus the same on a held connection of "
                f"{b['held_connection_get_push_us']:.0f} µs) | {b['pool_checkout_us']:.0f} |",
                f"| `check_push` input rules on one push, with the deep copy the in-process "
                f"adapters keep (postgres's `write_audit` takes the shallow copy) | "
                f"{b['check_push_us']:.0f} |",
                f"| the adapter's exact-float JSON encoder (`jsonio.dumps`), against `json.dumps`"
                f" at {b['json_dumps_us']:.0f} µs | {b['jsonio_dumps_us']:.0f} |",
                "", "What brought the point operations over the target (all in the adapter, "
                "none in the SQL): a pooled connection is checked with a round trip only when "
                "it idled over a second or after the sink lost a connection, where psycopg_pool's "
                "`check_connection` on every checkout had cost one extra round trip per call; "
                "composed statements are rendered to text once, since psycopg caches the "
                "parsing of text but renders a `Composed` again on every `execute`; the input "
                "rules walk a push once without formatting a path per key, and a type "
                "pre-check derived from the schema spares the jsonschema pass for valid pushes. "
                "Then (issue 17): server-side prepared statements, safe for plans because each "
                "statement names its indexed expressions literally and sends only values; the "
                "listing's views built from the decoded rows without a deep copy; the call "
                "watchdog woken only for a deadline earlier than its next wake-up, instead of "
                "on every call; then each autocommit statement sent through libpq's calls "
                "with a bounded spin for the reply instead of a cursor and a sleep in `poll`, "
                "and the listing read as one JSON array (`json_agg`) rather than a row per "
                "document."]
    out += ["", "The SQL each operation sends (captured from the adapter):", "", "```sql"]
    out += [f"-- {op}\n{text}" for op, text in pg["points"].get("sql", {}).items()]
    out += ["```"]
    return out


def _scale_md(results: dict[str, Any], plot_name: str | None) -> list[str]:
    rows = []
    for b in BACKEND_ORDER:
        data = results.get("backends", {}).get(b, {})
        for series, what in (("scale", f"{PENDING} pending"), ("all_pending", "all pending")):
            for p in data.get(series) or []:
                rows.append(f"| {b} | {what} | {p['stored']:,} | {p['listed']:,} | "
                            f"{_ms(p['median_ns'])} | ±{p['iqr_pct']:.0f}% |")
    if not rows:
        return []
    out = ["", "## Listing at scale: default `get_pushes()` latency", ""]
    if plot_name:
        out += [f"![listing latency against stored pushes]({plot_name})", ""]
    out += ["| backend | stored pushes are | stored | listed | ms per listing (median) | IQR |",
            "|---|---|---:|---:|---:|---:|", *rows]
    pg = results.get("backends", {}).get("postgres", {})
    kinds = (("scale", f"{PENDING} pending"), ("all_pending", "all pending"))
    raw_rows = [f"| {what} | {p['stored']:,} | {p['listed']:,} | {_ms(p['median_ns'])} | "
                f"{_ms(p['raw_median_ns'])} | {p['raw_median_ns'] / p['median_ns']:.0%} |"
                for series, what in kinds for p in pg.get(series) or [] if p.get("raw_median_ns")]
    if raw_rows:
        out += ["", "postgres listing against the same SQL on raw psycopg (rows fetched and "
                "decoded, no list view):", "",
                "| stored pushes are | stored | listed | adapter ms | raw ms | adapter/raw "
                "throughput |", "|---|---:|---:|---:|---:|---:|", *raw_rows]
    plans = {p["stored"]: p.get("plan") for p in pg.get("scale") or [] if p.get("plan")}
    if plans:
        out += ["", "postgres plan for the default listing (`EXPLAIN`, after `ANALYZE`): "
                + "; ".join(f"{n:,}: `{plan}`" for n, plan in plans.items())]
    if "mongomock" in results.get("backends", {}):
        out += ["", "mongomock is the in-process test double of the mongo lane: it answers every "
                "query by scanning and copying all documents in Python, and checks unique indexes "
                "on insert by scanning too (bulk loading 10 000 pushes took minutes), so its "
                "series stops early. Its figures describe mongomock, not a MongoDB server."]
    for note in results.get("notes", []):
        out += ["", f"- {note}"]
    return out


def _fs_md(results: dict[str, Any]) -> list[str]:
    fo = results.get("fs_open")
    fs_scale = results.get("backends", {}).get("fs", {}).get("scale") or []
    if not fo and not fs_scale:
        return []
    out = ["", "## fs: opening, memory, compaction, and where it stops being practical", ""]
    if fo:
        out += [
            f"A directory holding {fo['pushes']:,} pushes, each written twice as git-proxy does "
            f"(blocked, then reviewed): {fo['lines']:,} lines.", "",
            "| | |", "|---|---|",
            f"| open (read, parse, index every line) | {fo['open_s']:.2f} s |",
            f"| peak RSS of the opening process | {fo['peak_rss_kb'] / 1024:,.0f} MiB "
            f"(+{fo['open_rss_growth_kb'] / 1024:,.0f} MiB over the interpreter) |",
            f"| Python allocations during open (tracemalloc): peak, then held by the open sink | "
            f"{fo['tracemalloc_peak_bytes'] / 2**20:,.0f} MiB, "
            f"{fo.get('tracemalloc_held_after_open_bytes', 0) / 2**20:,.0f} MiB |",
            f"| pushes.db before compaction | {fo['bytes_before_compaction'] / 2**20:,.1f} MiB |",
            f"| pushes.db after `compact()` | {fo['bytes_after_compaction'] / 2**20:,.1f} MiB "
            f"({fo['compact_s']:.2f} s) |",
        ]
    if fs_scale:
        out += ["", "| stored | open s | pushes.db MiB | listing ms |", "|---:|---:|---:|---:|"]
        for p in fs_scale:
            out.append(f"| {p['stored']:,} | {p.get('open_s', 0):.2f} | "
                       f"{p.get('datafile_bytes', 0) / 2**20:,.1f} | {_ms(p['median_ns'])} |")
        lim = results.get("fs_limits") or {}
        first, last = fs_scale[0], fs_scale[-1]
        out += ["", f"The fs adapter keeps every document in memory and answers the default "
                f"listing from an index of the pending pushes, so its cost follows what it "
                f"returns, not what is stored: {_ms(first['median_ns'])} ms with "
                f"{first['stored']:,} stored, {_ms(last['median_ns'])} ms with "
                f"{last['stored']:,} ({last['median_ns'] / first['median_ns']:.2f}x). Opening "
                "still reads every line"
                + (f": it passes {OPEN_BUDGET_S:.0f} s near {lim['stored_at_open_budget']:,} "
                   "stored pushes" if lim.get("stored_at_open_budget") else "")
                + ", and memory grows linearly with the stored count. Beyond that, use "
                "postgres."]
    return out


def _suite_md(results: dict[str, Any]) -> list[str]:
    suite = (results.get("suite") or {}).get("lanes") or {}
    if not suite:
        return []
    out = ["", "## Conformance suite wall time per lane", "",
           "| lane | -n 1 | -n 2 | speed-up | harness.start | share of -n 1 | share of -n 2 "
           "| outcome (-n 2) |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for lane, s in suite.items():
        one, two = s["runs"]
        out.append(f"| {lane} | {one['wall_s']:.1f} s | {two['wall_s']:.1f} s | "
                   f"{s['speedup_2_vs_1']:.2f}x | {s['start_s']:.2f} s | "
                   f"{one['provisioning_share']:.0%} | {two['provisioning_share']:.0%} | "
                   f"{two['summary']} |")
    failures = {f for s in suite.values() for r in s["runs"] for f in r.get("failed", [])}
    if failures:
        out += ["", "Failing tests in these runs (the suite's verdicts, reported to their owners; "
                "the timings stand):", ""]
        out += [f"- `{f}`" for f in sorted(failures)]
    if not results["suite"].get("keyword"):
        out += ["", f"The state-machine clause ran with `SINKKIT_HYPOTHESIS_SEED="
                f"{results['suite']['hypothesis_seed']}` in every run, so both worker counts do "
                "the same work (a random seed that finds a divergence spends minutes shrinking "
                "it)."]
    out += ["", "Wall time includes interpreter start, collection and xdist worker start-up. "
            "`harness.start` is timed alone in a fresh process; xdist workers each provision in "
            "parallel, so its share is that time over the run's wall time."]
    if results["suite"].get("keyword"):
        out += ["", f"This profile runs the suite with `-k \"{results['suite']['keyword']}\"`: "
                "the state-machine clause `reliability.model.matches-memory` is left out, because "
                "its time depends on its seed and a run that finds a divergence spends minutes "
                "shrinking it. `--full` times the whole suite."]
    clauses = results["profile_settings"].get("suite_clauses")
    if clauses:
        out += ["", f"(Only clauses {', '.join(clauses)} ran in this profile.)"]
    return out


def _upstream_md(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for kind in UPSTREAM_KINDS:
        backend = results.get("backends", {}).get(kind, {})
        up = backend.get("upstream")
        if not up:
            out += [f"\n{note}" for note in results.get("notes", [])
                    if note.startswith(f"{kind}: the comparison with git-proxy")]
            continue
        raw_ops = backend.get("points", {}).get("ops", {})
        has_raw = bool(raw_ops) and "raw" in next(iter(raw_ops.values()))
        small, large = up["sizes"]
        info = up.get("upstream", {})
        out += ["", f"## {kind}: the kit against git-proxy's own sink, same run", "",
                f"{info.get('name', 'git-proxy ' + kind)} at `{up['commit']}` ({up['checkout']}, "
                f"from {up['source']}), Node {info.get('node', '?')}, run inside Node by "
                "`benchmarks/upstream_driver.mjs` with the checkout's own tsx: each round times "
                "a batch of kit calls in Python and the same number of upstream calls inside "
                "Node, so neither side pays a bridge round trip per call. Both stores hold the "
                f"same documents ({small:,} pushes, {PENDING} pending, 100 users, "
                f"{results.get('profile_settings', {}).get('repos', REPOS)} "
                f"repos, 100 sessions), then {large:,} pushes for the second listing row; "
                f"`xN` rows share one op among {up['callers']} concurrent callers (threads in "
                "Python, async callers in Node). Ratio: median over rounds of kit / upstream "
                f"throughput, each pair timed back to back. Placement: {up.get('placement')}.",
                "",
                "| operation | kit ops/s | upstream ops/s | kit / upstream (IQR) | before |"
                + (" adapter / raw prepared | before | adapter / raw unprepared |"
                   if has_raw else ""),
                "|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if has_raw else "")]
        before = _baseline(results, kind)
        for label, row in up["rows"].items():
            lo, hi = row["kit_vs_upstream_iqr"]
            mark = "" if row["kit_vs_upstream"] >= UPSTREAM_TARGET else " ✗"
            was = before["upstream"].get(label, {}).get("kit_vs_upstream")
            line = (f"| `{label}` | {_ops(row['kit']['ops_per_s'])} | "
                    f"{_ops(row['upstream']['ops_per_s'])} | {row['kit_vs_upstream']:.2f}{mark} "
                    f"({lo:.2f} to {hi:.2f}) | {_or_dash(was, '.2f')} |")
            if has_raw:
                # the points section measured the same ops on a store of the smaller size
                op = "get_pushes" if label == f"get_pushes@{small}" else label
                e = raw_ops.get(op)
                was = before["raw"].get(op, {}).get("adapter_vs_raw")
                line += (f" {e['adapter_vs_raw_prepared']:.0%} | {_or_dash(was, '.0%')} | "
                         f"{e['adapter_vs_raw']:.0%} |" if e else " - | - | - |")
            out.append(line)
        for op, why in up.get("missing", {}).items():
            out.append(f"| `{op}` | | | not compared: {why} | |" + (" | | |" if has_raw else ""))
        if before["label"] and (before["upstream"] or before["raw"]):
            out += ["", f"`before`: {before['label']}, same harness, from `{before['path']}` "
                    f"(run {before['date']}). Before, the adapter ran unprepared, so its "
                    "adapter / raw figure then was against raw unprepared."]
    return out


def _or_dash(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _baseline(results: dict[str, Any], kind: str) -> dict[str, Any]:
    """An earlier run's ratios for ``kind`` (``--baseline``): kit/upstream and adapter/raw."""
    base = results.get("baseline") or {}
    backend = base.get("backends", {}).get(kind, {})
    return {"label": base.get("label", ""), "path": base.get("path", ""),
            "date": base.get("machine", {}).get("date", "?"),
            "upstream": backend.get("upstream", {}).get("rows", {}),
            "raw": backend.get("points", {}).get("ops", {})}


def _shortfalls_md(results: dict[str, Any]) -> list[str]:
    """Why each kind of missed target was missed, from this run's own figures."""
    missed = [c for c in results.get("targets", []) if not c["met"]]
    if not missed:
        return []
    m = results["machine"]
    load = max((m.get("load_average_at_start") or [0])[0],
               (m.get("load_average_at_end") or [0])[0])
    out = ["", "Targets not met, and why (from this run's figures):", ""]
    raw_missed = [c for c in missed if "raw psycopg" in c["target"]]
    up_missed = [c for c in missed if "git-proxy's own sink" in c["target"]]
    pg = results.get("backends", {}).get("postgres", {}).get("points", {})
    b = pg.get("breakdown") or {}
    if raw_missed:
        fixed = b.get("pool_checkout_us")
        out.append(
            f"- adapter / raw psycopg ({len(raw_missed)} missed: "
            + ", ".join(f"`{c['target'].split(':')[0][9:]}` {c['shown']}" for c in raw_missed)
            + "): raw psycopg hands back the statement's rows as they are. Around the same "
            "statement the adapter pays its per-call plumbing (pool checkout and return, the "
            f"call deadline: {_or_dash(fixed, '.0f')} µs against a held connection), on writes "
            f"the input rules ({_or_dash(b.get('check_push_us'), '.0f')} µs per push) and the "
            f"exact-float encoder ({_or_dash(b.get('jsonio_dumps_us'), '.0f')} µs), and on "
            "`get_pushes` the list view of each document, made in Python by removing the "
            "fields outside it; the `libpq runner` column is the same statements without any "
            "of that. The view could be made by the server only field by field, since a push "
            "may hold any fields; that moves the cost rather than removing it.")
    why = {
        "postgres": "each upstream call is one node-postgres query with V8's JSON; Node "
                    "serves concurrent callers from one event loop, which collects every reply "
                    "that arrived in one wake-up, where each of the kit's threads is woken "
                    "from `poll` for its own reply and then waits its turn for the interpreter "
                    "lock (a caller alone spins for its reply instead, which is what puts the "
                    "single-caller rows ahead); a single caller's shortfall is the per-call "
                    "client cost of the row above",
        "fs": "the kit fsyncs every acknowledged write and NeDB never does (not equal "
              "durability: the os rows below are the equal-terms ones); concurrent readers are "
              "threads sharing one interpreter lock where NeDB's share one event loop",
    }
    for kind, reason in why.items():
        rows = [c for c in up_missed if c["target"].startswith(f"{kind} ")]
        if rows:
            floor = _driver_floor(results, kind, rows)
            out.append(f"- {kind} kit / upstream ({len(rows)} missed: "
                       + ", ".join(f"`{c['target'].split(':')[0][len(kind) + 1:]}` "
                                   f"{c['shown']}" for c in rows)
                       + f"): {reason}." + floor)
    fs_os = [c for c in missed if c["target"].startswith("fs ") and "durability os" in c["target"]]
    if fs_os:
        out.append(f"- fs writes under NeDB's durability ({len(fs_os)} missed: "
                   + ", ".join(f"`{c['target'].split(',')[0][3:]}` {c['shown']}" for c in fs_os)
                   + "): a change rewrites the document's whole line, and a repo's line holds "
                   "its permission lists, so a grant costs the list's length in serialising and "
                   "in the walk that keeps Dates typed; NeDB changes the document in memory and "
                   "appends the same line with V8's JSON.stringify. Matching it would take a "
                   "smaller line per grant (an append of the change, not the document), which "
                   "the NeDB format git-proxy reads does not have.")
    fs_open = [c for c in missed if c["target"].startswith("fs open + compaction")]
    if fs_open:
        out.append(f"- fs open + compaction ({fs_open[0]['shown']}): compaction copies each "
                   "document unchanged since the open from its line in the old file, so what "
                   "remains is the open's parse (Python's json against V8's JSON.parse), the "
                   "copy and the fsync of the new file.")
    if load > m.get("cores", 1):
        out.append(
            f"- the machine was shared during this run (load average up to {load:.1f} on "
            f"{m.get('cores')} cores): ratios stay comparable, being paired rounds, but the "
            "IQRs are wide, and a ratio whose IQR straddles its target is within noise of it.")
    return out


def _driver_floor(results: dict[str, Any], kind: str, rows: list[dict[str, Any]]) -> str:
    """For missed postgres rows: raw psycopg (prepared, one held connection, no kit code) against
    upstream on the same operation, from this run's points and upstream sections (same server,
    stores of the same size, not interleaved with each other): where even the bare driver is
    slower than node-postgres, no adapter code can reach 1.0x."""
    backend = results.get("backends", {}).get(kind, {})
    raw = backend.get("points", {}).get("ops", {})
    up = (backend.get("upstream") or {}).get("rows", {})
    small = ((backend.get("upstream") or {}).get("sizes") or [None])[0]
    shown = []
    for c in rows:
        label = c["target"].split(":")[0][len(kind) + 1:]
        op = "get_pushes" if label == f"get_pushes@{small}" else label
        entry, row = raw.get(op), up.get(label)
        floor = "raw_wire" if entry and "raw_wire" in entry else "raw_prepared"
        if entry and row and floor in entry:
            bare = entry[floor]["ops_per_s"] / row["upstream"]["ops_per_s"]
            shown.append(f"`{label}` {bare:.2f}x")
    if not shown:
        return ""
    return (" The adapter's statement runner alone on the same statements (one held "
            "connection, from the points section, not interleaved with upstream) against "
            "upstream: " + ", ".join(shown) + "; below 1.0 there, the driver's per-call cost "
            "over V8's node-postgres is the floor, before any sink code.")


def _fs_nedb_md(results: dict[str, Any]) -> list[str]:
    """fs writes under both durabilities, group commit, and the open against NeDB's load."""
    up = results.get("backends", {}).get("fs", {}).get("upstream") or {}
    rows = {k: r for k, r in up.get("rows", {}).items() if "kit_os_vs_upstream" in r}
    vs = (results.get("fs_open") or {}).get("vs_nedb")
    if not rows and not vs:
        return []
    out = ["", "## fs: writes under each durability, group commit, open and memory against NeDB",
           ""]
    if rows:
        out += ["`options.durability` (docs/fs-format.md): `fsync`, the default, acknowledges a "
                "write once an fsync covered it; `os` leaves the bytes to the OS, as NeDB does. "
                "Both kit columns come from the same interleaved rounds as NeDB's.", "",
                "| write | kit fsync / NeDB (IQR) | kit os / NeDB (IQR) |", "|---|---:|---:|"]
        for label, row in rows.items():
            a, b = row["kit_vs_upstream_iqr"], row["kit_os_vs_upstream_iqr"]
            out.append(f"| `{label}` | {row['kit_vs_upstream']:.2f} ({a[0]:.2f} to {a[1]:.2f}) "
                       f"| {row['kit_os_vs_upstream']:.2f} ({b[0]:.2f} to {b[1]:.2f}) |")
    gc = up.get("group_commit")
    if gc:
        out += ["", f"Group commit, durability fsync, {gc['callers']} writer threads: "
                f"{gc['writes']:,} writes acknowledged by {gc['fsyncs']:,} fsyncs "
                f"({gc['writes_per_fsync']:.1f} writes per fsync)."]
    if vs:
        fo = results["fs_open"]
        out += ["", f"Opening {fo['pushes']:,} pushes ({fo['lines']:,} lines, half superseded), "
                "each side on a fresh copy of the same file, "
                f"{vs['rounds']} alternating rounds, medians "
                "(`benchmarks/fs_open.py`, NeDB side `benchmarks/nedb_open.mjs`: load, which "
                "compacts, then git-proxy's unique index on `id`):", "",
                "| | kit | NeDB | kit / NeDB |", "|---|---:|---:|---:|",
                f"| open | {vs['kit_open_s']:.2f} s | {vs['nedb_load_s']:.2f} s | "
                f"{vs['open_ratio']:.2f}x speed |",
                f"| open + compaction | {vs['kit_open_compact_s']:.2f} s | "
                f"{vs['nedb_load_s']:.2f} s | {vs['open_compact_ratio']:.2f}x speed |",
                f"| peak RSS, open | {vs['kit_peak_rss_kb'] / 1024:,.0f} MiB | "
                f"{vs['nedb_peak_rss_kb'] / 1024:,.0f} MiB | {vs['rss_ratio']:.2f}x |"]
        if "kit_peak_rss_with_compaction_kb" in vs:
            out.append(f"| peak RSS, open + compaction | "
                       f"{vs['kit_peak_rss_with_compaction_kb'] / 1024:,.0f} MiB | "
                       f"{vs['nedb_peak_rss_kb'] / 1024:,.0f} MiB | "
                       f"{vs['rss_with_compaction_ratio']:.2f}x |")
    return out
