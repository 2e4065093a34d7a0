"""``check``'s comparison of parsed Dags with a bundle (pure: no Airflow needed).

The real parser's side (Airflow's DagBag on real Dag files) is in tests/e2e/test_check.py.
"""

from __future__ import annotations

import json

from trio_coord import Bundle, TaskContext
from trio_coord._check import CheckReport, ParsedDags, TaskInfo, compare


async def _task(ctx: TaskContext) -> None:
    return None


def bundle_of(**dags: list[str]) -> Bundle:
    bundle = Bundle(name="orders", version="1.0.0")
    for dag_id, task_ids in dags.items():
        dag = bundle.dag(dag_id)
        for task_id in task_ids:
            dag.task(task_id=task_id)(_task)
    return bundle


def stubs(queue: str = "trio", **tasks: str) -> dict[str, TaskInfo]:
    return {task_id: TaskInfo(queue=queue, stub=True) for task_id in tasks}


def test_everything_served_is_ok_with_a_one_line_summary() -> None:
    parsed = ParsedDags({"orders": stubs(fetch="", summarize="") | {"py": TaskInfo("default", stub=False)}})

    report = compare(parsed, bundle_of(orders=["fetch", "summarize"]))

    assert report.ok
    assert report.stub_dags == ("orders",)
    assert report.lines() == [
        "check: ok, 2 stub tasks on queue 'trio' in 1 Dag (orders), all served by bundle orders 1.0.0"
    ]


def test_each_kind_of_mismatch_is_named() -> None:
    parsed = ParsedDags(
        {
            "orders": stubs(fetch="", ship="") | {"summarize": TaskInfo("default", stub=False)},
            "reports": stubs(build=""),
            "billing": stubs("trio-typo", invoice=""),
        },
        import_errors={"/dags/broken.py": "Traceback ...\nValueError: broken"},
    )
    bundle = bundle_of(orders=["fetch", "summarize", "refund"], billing=["invoice"], audit=["scan", "sign"])

    report = compare(parsed, bundle)

    assert not report.ok
    assert report.stub_dags == ("orders", "reports")  # only stubs on the queue count
    assert report.problems() == [
        "stub task orders.ship has no implementation in bundle orders 1.0.0: its runs end 'removed'",
        "Dag reports has stub tasks on queue 'trio' (build) but bundle orders 1.0.0 does not claim it: "
        "they fail before they start (the coordinator finds no bundle)",
        "bundle task billing.invoice has no stub on queue 'trio': it is a stub on queue 'trio-typo'",
        "bundle task orders.refund has no stub on queue 'trio': Dag orders has no task refund",
        "bundle task orders.summarize has no stub on queue 'trio': "
        "it is an ordinary Python task, not a @task.stub",
        "bundle Dag audit (scan, sign) has no stubs: the Dags folder has no Dag audit",
        "/dags/broken.py could not be imported: ValueError: broken",
    ]
    assert report.summary() == (
        "check: 7 mismatches between the Dags folder and bundle orders 1.0.0 on queue 'trio' "
        "(1 stub task served)"
    )


def test_another_queue_is_compared_on_its_own() -> None:
    parsed = ParsedDags({"billing": stubs("go", invoice="")})

    assert compare(parsed, bundle_of(billing=["invoice"]), "go").ok
    assert not compare(parsed, bundle_of(billing=["invoice"])).ok


def test_the_json_report_is_what_dev_reads() -> None:
    report = compare(ParsedDags({"orders": stubs(fetch="")}), bundle_of(orders=["fetch"]))

    document = json.loads(json.dumps(report.to_json()))

    assert document == {"ok": True, "queue": "trio", "stub_dags": ["orders"], "lines": report.lines()}
    assert isinstance(report, CheckReport)


def test_a_mapped_stub_is_a_stub() -> None:
    """A ``@task.stub`` expanded with ``.expand()`` parses as a MappedOperator; its class says so."""
    from trio_coord._check import is_stub

    class StubOperator:
        is_stub = True

    class PythonOperator:
        pass

    class MappedOperator:
        def __init__(self, operator_class: type) -> None:
            self.operator_class = operator_class

    assert is_stub(StubOperator())
    assert is_stub(MappedOperator(StubOperator))
    assert not is_stub(PythonOperator())
    assert not is_stub(MappedOperator(PythonOperator))
