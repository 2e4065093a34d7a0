"""trio_coord's pytest plugin: fixtures to test trio tasks without Airflow.

Installed with trio_coord and loaded by pytest through the ``pytest11``
entry point ``trio_coord`` (disable it with ``-p no:trio_coord``)::

    from my_tasks import bundle

    async def test_extract(trio_coord_runner):
        trio_coord_runner.set_variable("rows", "[1, 2]")
        run = await trio_coord_runner.run("etl", "extract", bundle=bundle)
        assert run.state == "success"
        assert run.xcom() == [1, 2]

Fixtures (all function-scoped; async tests need pytest-trio):

``trio_coord_runner``
    A :class:`trio_coord.testing.TaskRunner`: seed variables, connections
    and XComs, ``await .run(dag_id, task_id)``, get a ``TaskRun``.
``trio_coord_supervisor``
    The :class:`trio_coord.testing.EmbeddedSupervisor` behind it.
``trio_coord_bundle``
    The runner's default bundle: ``None`` here; override it in a conftest
    (return a ``Bundle`` or a spec such as ``"my_tasks:bundle"``) to leave
    out ``bundle=`` in every test.

pytest imports every installed plugin at start-up. This module imports only
pytest (and the ``trio_coord`` package, whose names load lazily), so a
project that installs trio_coord but uses none of these fixtures pays nothing:
trio_coord's modules, trio and msgpack are imported by the first fixture a
test uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trio_coord import Bundle
    from trio_coord.testing import EmbeddedSupervisor, TaskRunner


@pytest.fixture
def trio_coord_bundle() -> Bundle | str | None:
    """The default bundle of ``trio_coord_runner`` (override it to set one)."""
    return None


@pytest.fixture
def trio_coord_supervisor() -> EmbeddedSupervisor:
    """A fresh embedded supervisor with an empty store."""
    from trio_coord.testing import EmbeddedSupervisor

    return EmbeddedSupervisor()


@pytest.fixture
def trio_coord_runner(
    trio_coord_supervisor: EmbeddedSupervisor, trio_coord_bundle: Bundle | str | None
) -> Iterator[TaskRunner]:
    """A :class:`~trio_coord.testing.TaskRunner` over ``trio_coord_supervisor``.

    Secrets the runs registered for log masking are forgotten afterwards, so
    one test's passwords do not mask another's output.
    """
    from trio_coord import _redact
    from trio_coord.testing import TaskRunner

    try:
        yield TaskRunner(trio_coord_bundle, supervisor=trio_coord_supervisor)
    finally:
        _redact.reset_secrets()
