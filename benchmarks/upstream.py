"""git-proxy's own sinks as the other side of the benchmark, timed inside Node.

``UpstreamDriver`` starts ``benchmarks/upstream_driver.mjs`` with a checkout's own ``tsx``, over
git-proxy's PostgreSQL sink (a schema of its own on the kit's benchmark server) or its NeDB fs
sink (datafiles in a directory of its own). The driver stores the same workload the kit's side
stores and runs each op ``n`` times per request; only the elapsed nanoseconds cross the pipe, so
neither side pays a bridge round trip per call. ``UpstreamOp`` is an op ``timing.interleaved``
times through its ``batch_ns``, so kit and upstream batches alternate round by round.

Which checkout: ``--upstream-checkout KIND=DIR`` on the runner, else the environment variable
``SINKKIT_BENCH_UPSTREAM_<KIND>`` (KIND: ``postgres`` or ``fs``), else the pinned snapshots
extracted under ``SINKKIT_UPSTREAM_CHECKOUTS`` (``git-proxy-6ae7a994`` for postgres,
``git-proxy-7eeab394`` for fs). A kind with none is skipped with one line.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sinkkit.upstream.prepare import is_prepared, tsx_path

DRIVER = Path(__file__).resolve().parent / "upstream_driver.mjs"
#: the bench's kinds -> the driver's kinds
DRIVER_KIND = {"postgres": "postgres", "fs": "fs-files"}
#: the pinned snapshot each kind is compared with by default (see ../shared/upstream/README.md)
SNAPSHOTS = {"postgres": "git-proxy-6ae7a994", "fs": "git-proxy-7eeab394"}
SNAPSHOTS_ENV = "SINKKIT_UPSTREAM_CHECKOUTS"
#: seconds the driver may take to import the checkout's sink (tsx compiles it on first use)
START_TIMEOUT_S = 120.0
#: seconds any one request may take (a 100 000-push seed is the longest)
REQUEST_TIMEOUT_S = 1800.0


class UpstreamError(RuntimeError):
    """The upstream driver could not start, answered an error, or stopped answering."""


def env_name(kind: str) -> str:
    return f"SINKKIT_BENCH_UPSTREAM_{kind.upper()}"


def parse_checkouts(values: Iterable[str]) -> dict[str, Path]:
    """``KIND=DIR`` options as {kind: path}; raises ValueError naming a bad one."""
    out: dict[str, Path] = {}
    for value in values:
        kind, sep, folder = value.partition("=")
        if not sep or kind not in DRIVER_KIND or not folder:
            raise ValueError(f"--upstream-checkout takes KIND=DIR with KIND one of "
                             f"{', '.join(DRIVER_KIND)}, not {value!r}")
        out[kind] = Path(folder)
    return out


def find_checkout(kind: str, given: Mapping[str, Path]) -> tuple[Path | None, str]:
    """(checkout, where it came from), or (None, why there is none) for ``kind``."""
    if kind in given:
        source, path = "--upstream-checkout", given[kind]
    elif os.environ.get(env_name(kind)):
        source, path = env_name(kind), Path(os.environ[env_name(kind)])
    elif os.environ.get(SNAPSHOTS_ENV):
        source = SNAPSHOTS_ENV
        path = Path(os.environ[SNAPSHOTS_ENV]) / SNAPSHOTS[kind]
    else:
        return None, (f"no git-proxy checkout given (--upstream-checkout {kind}=DIR, "
                      f"{env_name(kind)} or {SNAPSHOTS_ENV})")
    if not (path / "src" / "db").is_dir():
        return None, f"{path} (from {source}) is not a git-proxy checkout"
    if not is_prepared(path):
        return None, (f"{path} (from {source}) has no node dependencies: run "
                      f"`python -m sinkkit.upstream.prepare {path}`")
    if shutil.which("node") is None:
        return None, "Node.js is not on PATH"
    return path.resolve(), source


def commit_of(checkout: Path) -> str:
    """The checkout's commit when it is a git work tree, else the snapshot's name."""
    try:
        out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()[:12]
    except OSError:
        pass
    name = checkout.name
    return name.rsplit("-", 1)[-1] if name.startswith("git-proxy-") else name


class UpstreamDriver:
    """One Node process serving one upstream sink over its own storage."""

    def __init__(self, checkout: Path, kind: str, workdir: Path,
                 env: Mapping[str, str] | None = None):
        if kind not in DRIVER_KIND:
            raise UpstreamError(f"no upstream driver for {kind!r}")
        self.checkout, self.kind = Path(checkout), kind
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        command = [str(tsx_path(self.checkout)), str(DRIVER), "--checkout", str(self.checkout),
                   "--kind", DRIVER_KIND[kind], "--dir", str(workdir)]
        self._stderr = open(workdir / "driver.stderr", "w+b")  # noqa: SIM115 (closed in close)
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env={**os.environ, **(env or {})},
                                     cwd=workdir)
        self._read(START_TIMEOUT_S)
        self.info = self.call("info")

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            state = "exited" if self.proc.poll() is not None else f"silent for {timeout:g}s"
            raise UpstreamError(f"upstream {self.kind} driver {state}; its stderr:\n"
                                f"{self._stderr_tail()}")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise UpstreamError(f"upstream {self.kind} driver: {answer.get('error')}")
        return answer

    def call(self, cmd: str, timeout: float = REQUEST_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise UpstreamError(f"upstream {self.kind} driver exited; its stderr:\n"
                                f"{self._stderr_tail()}") from None
        return self._read(timeout)

    # -- the workload ---------------------------------------------------------------------

    def write(self, pushes: Iterable[dict[str, Any]], concurrency: int = 1,
              chunk: int = 2000) -> int:
        """writeAudit of every push, sent ``chunk`` at a time; ``concurrency`` callers each."""
        written, docs = 0, []
        for doc in pushes:
            docs.append(doc)
            if len(docs) >= chunk:
                written += self.call("write", pushes=docs, concurrency=concurrency)["written"]
                docs = []
        if docs:
            written += self.call("write", pushes=docs, concurrency=concurrency)["written"]
        return written

    def seed(self, users: list[dict[str, Any]], repos: list[dict[str, Any]],
             sessions: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Create the users, repos and sessions; the repos' ids as upstream assigned them."""
        return self.call("seed", users=users, repos=repos, sessions=sessions)["repo_ids"]

    def streams(self, **streams: Any) -> None:
        self.call("streams", **streams)

    def listed(self) -> int:
        return self.call("listed")["count"]

    def found(self, op: str) -> bool:
        """Whether one call of ``op`` found something (not null, not an empty list)."""
        return self.call("sample", op=op)["found"]

    def load(self, directory: Path) -> dict[str, Any]:
        """fs: open the NeDB datafiles under ``directory``/.data/db as git-proxy does at start;
        {"ns": time taken, "rss"/"max_rss_kb": memory after / peak, "pushes": count}."""
        return self.call("load", dir=str(directory))

    def batch_ns(self, op: str, n: int) -> float:
        """Per-call ns of ``n`` sequential calls of ``op``, timed inside Node."""
        return self.call("time", op=op, n=n)["ns"] / n

    def concurrent_ns(self, op: str, n: int, callers: int) -> float:
        """Wall ns per call of ``n`` calls of ``op`` shared by ``callers`` concurrent callers."""
        return self.call("concurrent", op=op, n=n, callers=callers)["ns"] / n

    def op(self, name: str) -> UpstreamOp:
        return UpstreamOp(self, name)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def __enter__(self) -> UpstreamDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UpstreamOp:
    """An upstream op as ``timing`` times it: ``batch_ns(n)`` runs the batch inside Node.

    Calling it runs one call (a warm-up or a single traced call), also inside Node.
    """

    def __init__(self, driver: UpstreamDriver, name: str):
        self.driver, self.name = driver, name

    def batch_ns(self, n: int) -> float:
        return self.driver.batch_ns(self.name, n)

    def __call__(self) -> None:
        self.driver.batch_ns(self.name, 1)


class ConcurrentOp:
    """``callers`` concurrent callers of one op, timed as a whole: ns per call of the batch."""

    def __init__(self, run_batch: Any):
        self._run = run_batch

    def batch_ns(self, n: int) -> float:
        return self._run(n)

    def __call__(self) -> None:
        self._run(1)

