"""The state machine has teeth: it catches a broken adapter and shrinks to a short program."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import seed, settings
from hypothesis.stateful import run_state_machine_as_test
from sinkkit.conformance.harness import Harness, Slot
from sinkkit.conformance.model import DocumentSink
from sinkkit.conformance.suite.test_stateful import Counters, chosen_profile, machine_for


class OldestFirst(DocumentSink):
    """get_pushes lists the oldest push first."""

    def get_pushes(self, query: Any = None) -> list[Any]:
        return list(reversed(super().get_pushes(query)))


class DuplicatingPermissions(DocumentSink):
    """add_user_can_push appends even when the user is listed (upstream mongo's bug)."""

    def add_user_can_push(self, _id: str, user: str) -> None:
        repo = self._repos.get(_id) if isinstance(_id, str) else None
        if repo is None:
            return super().add_user_can_push(_id, user)
        super().add_user_can_push(_id, user)
        repo = self._repos.get(_id)
        repo["users"]["canPush"].append(user.lower())


class UnfoldedEmail(DocumentSink):
    """find_user_by_email compares case-sensitively."""

    def find_user_by_email(self, email: str) -> Any:
        user = super().find_user_by_email(email)
        return user if user is not None and user["email"] == email else None


class OneSinkHarness(Harness):
    name = "broken"

    def __init__(self, cls: type[DocumentSink]):
        self.cls = cls

    def new_sink(self, slot: Slot) -> Any:
        return self.cls()


@pytest.mark.parametrize("broken,rule", [(OldestFirst, "get_pushes"),
                                         (DuplicatingPermissions, "change_permission"),
                                         (UnfoldedEmail, "find_user_by_email")],
                         ids=lambda c: getattr(c, "__name__", ""))
def test_the_machine_catches_a_broken_adapter_with_a_short_program(broken, rule, tmp_path,
                                                                   capsys):
    slot = Slot(tmp_path=tmp_path, name="t", worker="main")
    machine = seed(20261125)(machine_for(OneSinkHarness(broken), slot, Counters(), checked=False))
    chosen = settings(settings.get_profile("sinkkit-fast"), max_examples=1000,
                      report_multiple_bugs=False)
    with pytest.raises(AssertionError) as failure:
        run_state_machine_as_test(machine, settings=chosen)
    printed = capsys.readouterr().out + "\n".join(getattr(failure.value, "__notes__", []))
    steps = re.findall(r"^state\.\w+\(", printed, re.MULTILINE)
    assert steps, printed
    assert len(steps) <= 8, f"did not shrink: {len(steps)} steps\n{printed}"
    found = f"{failure.value}\n{printed}"
    assert rule in found, f"found another failure than {broken.__name__}:\n{found}"


def test_the_memory_model_agrees_with_itself(tmp_path):
    slot = Slot(tmp_path=tmp_path, name="t", worker="main")
    counters = Counters()
    machine = machine_for(OneSinkHarness(DocumentSink), slot, counters, checked=False)
    run_state_machine_as_test(machine, settings=settings(settings.get_profile("sinkkit-fast")))
    assert counters.examples >= 25 and counters.steps > counters.examples


def test_the_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SINKKIT_HYPOTHESIS_PROFILE", "sinkkit-deep")
    assert chosen_profile() == "sinkkit-deep"
    assert settings.get_profile("sinkkit-deep").max_examples > settings.get_profile(
        "sinkkit-fast").max_examples
    monkeypatch.delenv("SINKKIT_HYPOTHESIS_PROFILE")
    assert chosen_profile() == "sinkkit-fast"
    assert settings.get_profile("sinkkit-fast").database is None
