"""Make a git-proxy checkout runnable by the upstream lanes: install its node dependencies.

``npm ci`` in a git-proxy tree fails on the CLI workspace (``packages/git-proxy-cli`` depends on
a published ``@finos/git-proxy`` the registry may not have), and the sinks do not need the CLI.
So, only when ``node_modules`` is missing, the workspace is dropped from ``package.json`` and
from the lockfile (the only edits made to upstream's tracked files; nothing else is touched),
then ``CYPRESS_INSTALL_BINARY=0 npm ci --ignore-scripts --no-audit --no-fund`` installs the rest.
Running it again on a prepared checkout does nothing.

    python -m sinkkit.upstream.prepare PATH
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CLI_WORKSPACE = "packages/git-proxy-cli"
#: lockfile entries that exist only for the CLI workspace (the workspace itself, its link in
#: node_modules, and the published @finos/git-proxy it depends on, with everything nested in it)
CLI_LOCK_PREFIXES = (CLI_WORKSPACE, "node_modules/@finos/git-proxy-cli",
                     "node_modules/@finos/git-proxy")


class CheckoutError(RuntimeError):
    """The path is not a git-proxy checkout the lanes can use, or installing failed."""


def check_checkout(path: Path) -> Path:
    path = Path(path).resolve()
    manifest = path / "package.json"
    if not manifest.is_file():
        raise CheckoutError(f"{path} is not a git-proxy checkout (no package.json)")
    if not (path / "src" / "db").is_dir():
        raise CheckoutError(f"{path} is not a git-proxy checkout (no src/db)")
    return path


def tsx_path(checkout: Path) -> Path:
    return Path(checkout) / "node_modules" / ".bin" / "tsx"


def is_prepared(checkout: Path) -> bool:
    return tsx_path(checkout).exists() and (Path(checkout) / "node_modules" / "@seald-io").is_dir()


def _without_cli_entries(entries: dict) -> dict:
    return {k: v for k, v in entries.items()
            if not any(k == p or k.startswith(p + "/") for p in CLI_LOCK_PREFIXES)}


def drop_cli_workspace(checkout: Path) -> bool:
    """Remove the CLI workspace from package.json and package-lock.json; True if anything
    changed. Key order and the two-space indentation npm writes are kept."""
    changed = False
    manifest_path = checkout / "package.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    workspaces = manifest.get("workspaces")
    if isinstance(workspaces, list) and any(CLI_WORKSPACE in w for w in workspaces):
        kept = [w for w in workspaces if CLI_WORKSPACE not in w]
        if kept:
            manifest["workspaces"] = kept
        else:
            del manifest["workspaces"]
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        changed = True
    lock_path = checkout / "package-lock.json"
    if lock_path.is_file():
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
        packages = lock.get("packages", {})
        root = packages.get("", {})
        pruned = _without_cli_entries(packages)
        root_ws = root.get("workspaces")
        if isinstance(root_ws, list) and any(CLI_WORKSPACE in w for w in root_ws):
            kept = [w for w in root_ws if CLI_WORKSPACE not in w]
            if kept:
                pruned[""]["workspaces"] = kept
            else:
                del pruned[""]["workspaces"]
        if pruned != packages or root_ws != pruned.get("", {}).get("workspaces"):
            lock["packages"] = pruned
            lock_path.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
            changed = True
    return changed


def prepare(checkout: Path, *, log=print) -> Path:
    """Install the checkout's node dependencies if they are missing; returns the checkout."""
    checkout = check_checkout(checkout)
    if is_prepared(checkout):
        return checkout
    if drop_cli_workspace(checkout):
        log(f"sinkkit upstream: dropped the {CLI_WORKSPACE} workspace from {checkout}")
    log(f"sinkkit upstream: npm ci in {checkout} (once; about a minute)")
    env = dict(os.environ, CYPRESS_INSTALL_BINARY="0")
    try:
        done = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=checkout, env=env,
            capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise CheckoutError("npm is not installed: the upstream lanes need Node.js >= 18 "
                            "and npm") from None
    except subprocess.TimeoutExpired:
        raise CheckoutError(f"npm ci in {checkout} did not finish in 15 minutes") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise CheckoutError(f"npm ci in {checkout} failed (exit {done.returncode}): {tail}")
    if not is_prepared(checkout):
        raise CheckoutError(f"npm ci in {checkout} installed no tsx or no NeDB")
    return checkout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    args = parser.parse_args(argv)
    try:
        prepare(args.checkout)
    except CheckoutError as exc:
        print(f"sinkkit upstream: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
