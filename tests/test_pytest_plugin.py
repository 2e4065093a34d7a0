"""The pytest plugin, as an author's project sees it: installed, loaded by its entry point."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BUNDLE = """
from trio_coord import Bundle, TaskContext

bundle = Bundle("authors", "1.0")
dag = bundle.dag("etl")


@dag.task
async def extract(ctx: TaskContext) -> list[int]:
    rows = await ctx.client.get_json_variable("rows")
    ctx.log.info("read %d rows", len(rows))
    return rows
"""

AUTHOR_TESTS = """
import pytest

import my_tasks


@pytest.fixture
def trio_coord_bundle():
    return my_tasks.bundle


async def test_extract(trio_coord_runner):
    trio_coord_runner.set_variable("rows", "[1, 2]")
    run = await trio_coord_runner.run("etl", "extract")
    assert run.state == "success"
    assert run.xcom() == [1, 2]


async def test_missing_variable_fails(trio_coord_runner):
    run = await trio_coord_runner.run("etl", "extract")
    assert run.state == "failed"


async def test_a_wrong_expectation_fails(trio_coord_runner):
    trio_coord_runner.set_variable("rows", "[1, 2]")
    run = await trio_coord_runner.run("etl", "extract")
    assert run.xcom() == [9]
"""


def test_fixtures_work_in_trio_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(my_tasks=BUNDLE, test_tasks=AUTHOR_TESTS)
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.re_match_lines(
        [r".*test_a_wrong_expectation_fails", r".*AssertionError: assert \[1, 2\] == \[9\]"]
    )


def test_fixtures_work_with_the_trio_marker_and_a_bundle_spec(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        my_tasks=BUNDLE,
        test_marked="""
import pytest


@pytest.fixture
def trio_coord_bundle():
    return "my_tasks:bundle"


@pytest.mark.trio
async def test_extract(trio_coord_runner, trio_coord_supervisor):
    assert trio_coord_runner.supervisor is trio_coord_supervisor
    trio_coord_supervisor.set_variable("rows", "[3]")
    run = await trio_coord_runner.run("etl", "extract")
    assert (run.state, run.xcom()) == ("success", [3])
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_loading_the_plugin_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
import sys


def test_untouched(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("trio_coord")
    assert "trio_coord.pytest_plugin" in sys.modules
    loaded = {name for name in sys.modules if name.split(".")[0] == "trio_coord"}
    assert loaded == {"trio_coord", "trio_coord._version", "trio_coord.pytest_plugin"}, loaded
    assert "msgpack" not in sys.modules
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:trio")
    result.assert_outcomes(passed=1)


def test_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_off="def test_off(trio_coord_runner):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:trio_coord")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'trio_coord_runner' not found*"])


def test_no_bundle_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_nobundle="""
import pytest


@pytest.mark.trio
async def test_run(trio_coord_runner):
    await trio_coord_runner.run("etl", "extract")
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TypeError: no bundle: pass bundle=*trio_coord_bundle fixture*"])
