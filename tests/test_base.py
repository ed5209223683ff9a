"""SinkBase covers the whole Sink, and the adapters built on it write primitives, not wrappers."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from sinkkit.adapters.mongo.sink import MongoSink
from sinkkit.adapters.postgres.sink import PostgresSink
from sinkkit.conformance.contract import GIT_PROXY_NAMES
from sinkkit.conformance.model import DocumentSink
from sinkkit.core.base import SinkBase

SKELETON = Path(__file__).parents[1] / "examples" / "sinkkit-example-skeleton"
#: the public methods SinkBase derives: an adapter that redefines one repeats the base
DERIVED = sorted(name for name in GIT_PROXY_NAMES
                 if name not in SinkBase.__abstractmethods__ and name != "session_store")


def _skeleton_sink() -> type:
    spec = importlib.util.spec_from_file_location(
        "example_skeleton", SKELETON / "example_skeleton" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SkeletonSink


def test_every_sink_method_is_derived_by_the_base_or_one_of_its_primitives():
    for name in GIT_PROXY_NAMES:
        assert hasattr(SinkBase, name), f"SinkBase neither derives nor declares {name}"


def test_the_review_permission_and_lookup_wrappers_are_derived_not_primitives():
    wrappers = {"authorise", "reject", "cancel", "add_user_can_push", "add_user_can_authorise",
                "remove_user_can_push", "remove_user_can_authorise", "find_user",
                "find_user_by_email", "find_user_by_git_account", "find_user_by_oidc",
                "find_user_by_ssh_key"}
    assert wrappers <= set(DERIVED)


@pytest.mark.parametrize("adapter", [DocumentSink, PostgresSink, MongoSink, _skeleton_sink()],
                         ids=lambda cls: cls.__name__)
def test_an_adapter_on_the_base_redefines_none_of_the_derived_methods(adapter):
    assert issubclass(adapter, SinkBase)
    assert [name for name in DERIVED if name in vars(adapter)] == []


def test_a_subclass_missing_a_primitive_cannot_be_made_and_is_told_which():
    class Incomplete(SinkBase):
        def _review(self, id, action, changes):
            return None

    with pytest.raises(TypeError, match="_write_audit"):
        Incomplete()


def test_the_skeleton_readme_names_exactly_the_primitives_an_adapter_writes():
    readme = (SKELETON / "README.md").read_text()
    table = readme[readme.index("| area | primitives |"):readme.index("What the base derives")]
    rows = [row for row in table.splitlines()[2:] if row.startswith("|")]
    named = {name for row in rows for name in re.findall(r"`([A-Za-z_]+)`", row.split("|")[2])}
    assert named == set(SinkBase.__abstractmethods__)


def test_the_guide_states_the_skeletons_current_line_count():
    counts = [len((SKELETON / "example_skeleton" / name).read_text().splitlines())
              for name in ("__init__.py", "harness.py")]
    guide = " ".join((Path(__file__).parents[1] / "docs" / "guide.md").read_text().split())
    stated = (f"passes the whole suite in {sum(counts)} lines (`wc -l` of its two modules: "
              f"{counts[0]} for the sink and its session store, {counts[1]} for the harness)")
    assert stated in guide
