"""The documentation's snippets, checked: transcripts are run, commands parse, documents load.

Rules for the pages (docs/**/*.md and README.md), enforced here:

* Python code lives in ``docs/examples/`` and is shown with ``literalinclude``
  (``tests/test_docs_examples.py`` runs it); the only fenced Python blocks are
  the README's quick start, which is executed below, and the tutorial's, each
  of which must be one of its files under ``docs/examples/tutorial`` byte for byte.
* A ``console`` block in a transcript page (``TRANSCRIPTS``) is a shell
  session: every ``$`` command is run in order, in one scratch folder holding
  the tutorial's files, and the output shown under it must appear in what the
  command printed, in order. ``...`` stands for any lines (alone on a line)
  or any text (inside a line); clock times and durations are not compared. A
  command exits 0 unless the next command is ``echo $?``, whose documented
  output is the exit code. Blocks that cannot run here (Airflow commands) are
  ``shell``, not ``console``.
* Every ``python -m trio_coord`` command line in any block parses with the
  real argument parser, so a renamed option cannot survive in the docs.
* YAML and JSON blocks parse; the seed document and the scenario in
  testing.md load with the testing kit (the scenario also runs and holds);
  bundle-format.md's launcher and manifest are what ``pack`` writes.
* The API reference lists every public name exactly once.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import trio_coord
import trio_coord.testing
from trio_coord import Bundle, TaskContext, build_manifest, dump_manifest, load_bundle
from trio_coord._cli import build_parser
from trio_coord._pack import build_self_contained_launcher, pack
from trio_coord.testing import Seed, load_scenario

from .conftest import REPO
from .doc_blocks import Block, Step, assert_shown, blocks, transcript
from .scenario_runner import run_in_process

DOCS = REPO / "docs"
README = REPO / "README.md"
TUTORIAL_FILES = DOCS / "examples" / "tutorial"
#: The tutorial's Python files, in the order the page shows them.
TUTORIAL_PYTHON = ("orders.py", "test_orders.py", "orders_dag.py")
#: Pages whose ``console`` blocks are run as transcripts.
TRANSCRIPTS = ["tutorial.md"]
COMMAND_TIMEOUT = 120


def pages() -> list[Path]:
    found = [p for p in DOCS.rglob("*.md") if "_build" not in p.parts and "examples" not in p.parts]
    return [*sorted(found), README]


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


# ---------------------------------------------------------------------------- rules for every page


def test_pages_have_no_untested_python() -> None:
    inline = [
        str(b)
        for b in all_blocks()
        if b.info in ("python", "py", "pycon") and b.page not in (README, DOCS / "tutorial.md")
    ]
    assert inline == [], "show Python with literalinclude from docs/examples (tested there)"


def test_the_tutorials_code_is_the_tested_files_byte_for_byte() -> None:
    """The tutorial shows its code inline (readable where MyST does not render, e.g. on GitHub);
    each block is one of docs/examples/tutorial's files, which the tests run."""
    shown = [b.body for b in blocks(DOCS / "tutorial.md") if b.info == "python"]
    files = {name: (TUTORIAL_FILES / name).read_text(encoding="utf-8") for name in TUTORIAL_PYTHON}
    assert shown == list(files.values()), "tutorial.md's Python blocks differ from docs/examples/tutorial"


def test_yaml_and_json_blocks_parse() -> None:
    checked = 0
    for block in all_blocks():
        if block.info in ("yaml", "yml"):
            yaml.safe_load(block.body)
            checked += 1
        elif block.info == "json":
            json.loads(block.body)
            checked += 1
    assert checked >= 3


def _trio_coord_commands(block: Block) -> list[str]:
    commands = []
    for raw in block.body.splitlines():
        line = raw.strip().removeprefix("$ ")
        if line.startswith("python -m trio_coord "):
            commands.append(line)
    return commands


def test_every_documented_command_line_parses() -> None:
    parser = build_parser()
    checked = []
    for block in all_blocks():
        for line in _trio_coord_commands(block):
            if "[options]" in line:  # a synopsis, not a command
                continue
            argv = shlex.split(line)[3:]
            try:
                parser.parse_args(argv)
            except SystemExit as exc:  # pragma: no cover - the assertion explains
                raise AssertionError(f"{block}: {line!r} does not parse") from exc
            checked.append(line)
    assert len(checked) >= 10


# ---------------------------------------------------------------------------- transcripts


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "PYTEST_"))}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    wheelhouse = os.environ.get("TRIO_COORD_TEST_WHEELHOUSE")
    if wheelhouse:  # `pack` runs pip, which reads its options from the environment too: stay offline
        env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=wheelhouse)
    return env


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[:3] == ["python", "-m", "trio_coord"]:
        return [sys.executable, "-m", "trio_coord", *words[3:]]
    if words[0] == "pytest":
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *words[1:]]
    raise AssertionError(f"a transcript can only run python -m trio_coord and pytest, not {command!r}")


def run_documented(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run a documented command in ``folder`` as the page shows it; output and errors in one stream."""
    return subprocess.run(
        _argv(command),
        cwd=folder,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def run_transcript(steps: list[Step], folder: Path, where: str) -> None:
    last_code: int | None = None
    for index, step in enumerate(steps):
        following = steps[index + 1].command if index + 1 < len(steps) else ""
        if step.command == "echo $?":
            assert step.output == [str(last_code)], (
                f"{where}: documented exit code {step.output}, got {last_code}"
            )
            continue
        if step.command.startswith("mkdir -p "):
            for name in shlex.split(step.command)[2:]:
                (folder / name).mkdir(parents=True, exist_ok=True)
            last_code = 0
            continue
        done = run_documented(step.command, folder)
        last_code = done.returncode
        if following != "echo $?":
            assert done.returncode == 0, f"{where}: {step.command!r} exited {done.returncode}:\n{done.stdout}"
        assert_shown(step.output, done.stdout, f"{where}: {step.command!r}")


#: Commands that need Airflow (or install it): their blocks run in the e2e session
#: (tests/e2e/test_tutorial.py), against the real Airflow that ``dev`` starts.
AIRFLOW_COMMANDS = (
    "python -m venv ",
    "pip install ",
    "airflow ",
    "export AIRFLOW_HOME",
    "grep ",
    "python -m trio_coord dev ",
    "python -m trio_coord check ",
)


def needs_airflow(block: Block) -> bool:
    return any(step.command.startswith(AIRFLOW_COMMANDS) for step in transcript(block))


@pytest.mark.parametrize("page", TRANSCRIPTS)
def test_transcripts_run_as_shown(page: str, tmp_path: Path) -> None:
    for name in ("orders.py", "test_orders.py"):
        shutil.copy(TUTORIAL_FILES / name, tmp_path / name)
    consoles = [block for block in blocks(DOCS / page) if block.info == "console"]
    local = [block for block in consoles if not needs_airflow(block)]
    assert len(local) >= 4
    assert len(consoles) - len(local) >= 4  # the Airflow part: the e2e session runs every block
    for block in local:  # in page order, in one folder: later blocks build on earlier ones
        run_transcript(transcript(block), tmp_path, str(block))
    assert (tmp_path / "bundles" / "orders").is_file()


def test_assert_shown_fails_on_a_missing_or_misordered_line() -> None:
    actual = "12:00:00.001 INFO a\nb (3 bytes)\n2 passed in 0.31s\n"
    assert_shown(["10:11:12.000 INFO a", "...", "b (... bytes)", "2 passed in 9.99s"], actual, "ok")
    with pytest.raises(AssertionError, match="not in the output"):
        assert_shown(["b (3 bytes)", "12:00:00.001 INFO a"], actual, "misordered")
    with pytest.raises(AssertionError, match="not in the output"):
        assert_shown(["c"], actual, "missing")


# ---------------------------------------------------------------------------- testing.md


def _block_starting(page: Path, info: str, start: str) -> Block:
    (found,) = [b for b in blocks(page) if b.info == info and b.body.lstrip().startswith(start)]
    return found


def test_testing_md_chained_commands_run(tmp_path: Path) -> None:
    block = next(b for b in blocks(DOCS / "testing.md") if b.info == "console" and "--state s.json" in b.body)
    for command in _trio_coord_commands(block):
        done = run_documented(command, tmp_path)
        assert done.returncode == 0, done.stdout
    state = json.loads((tmp_path / "s.json").read_text())
    assert {"task_id": "transform", "key": "row_count", "value": 2}.items() <= next(
        x for x in state["xcoms"] if x["key"] == "row_count"
    ).items()


def test_testing_md_seed_document_loads() -> None:
    document = yaml.safe_load(_block_starting(DOCS / "testing.md", "yaml", "variables:").body)

    seed = Seed.from_document(document, dag_id="etl")

    assert seed.variables["greeting"] == "hello"
    assert seed.connections["warehouse"].host == "db.internal"
    assert seed.connections["api"].port == 8443


async def test_testing_md_scenario_holds(tmp_path: Path) -> None:
    """The page's scenario (about tests/scenarios/bundle.py) loads, runs and matches its expectations."""
    path = tmp_path / "pulls.yaml"
    path.write_text(_block_starting(DOCS / "testing.md", "yaml", "description:").body)
    shutil.copy(REPO / "tests" / "scenarios" / "bundle.py", tmp_path / "bundle.py")

    scenario = load_scenario(path)
    outcome, _ = await run_in_process(scenario)

    assert (scenario.dag_id, scenario.task_id) == ("scenarios", "pulls_and_pushes")
    assert scenario.check(outcome) == []


# ---------------------------------------------------------------------------- README


def test_readme_quick_start_command_runs(tmp_path: Path) -> None:
    (block, *_) = [b for b in blocks(README) if b.info == "console" and "trio_coord run" in b.body]
    command = block.body.strip().split(" && ", 1)[1]  # after the pip install
    done = run_documented(command, tmp_path)
    assert done.returncode == 0, done.stdout
    assert_shown(
        [
            "...extracted 3 rows...",
            "state: success (runtime exit code 0; this command exits 0)",
            "xcom return_value: [1, 2, 3]",
        ],
        done.stdout,
        "README",
    )


def test_readme_pytest_example_runs_as_written(tmp_path: Path) -> None:
    """The two snippets saved as the README says, then its pytest command, in a folder of their own."""
    task_block, test_block = [b for b in blocks(README) if b.info == "python"]
    (tmp_path / "etl.py").write_text(task_block.body, encoding="utf-8")
    (tmp_path / "test_etl.py").write_text(test_block.body, encoding="utf-8")
    (command_block,) = [b for b in blocks(README) if b.info == "console" and "pytest test_etl.py" in b.body]
    command = command_block.body.strip().split(" && ", 1)[1]  # after the pip install
    assert command == "pytest test_etl.py"

    done = run_documented(command, tmp_path)

    assert done.returncode == 0, done.stdout
    assert_shown(["...1 passed in ..."], done.stdout, "README's pytest example")


# ---------------------------------------------------------------------------- the tutorial's Airflow side


def _stub_dag() -> tuple[str, list[str], set[str]]:
    """The Dag id, the stub task names in order and their queues, read from orders_dag.py."""
    tree = ast.parse((TUTORIAL_FILES / "orders_dag.py").read_text(encoding="utf-8"))
    dag_ids, stubs, queues = [], [], set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            name = ast.unparse(decorator.func)
            keywords = {
                k.arg: ast.literal_eval(k.value) for k in decorator.keywords if k.arg in ("dag_id", "queue")
            }
            if name == "task.stub":
                stubs.append(node.name)
                queues.add(keywords["queue"])
            elif name == "dag":
                dag_ids.append(keywords["dag_id"])
    (dag_id,) = dag_ids
    return dag_id, stubs, queues


def _env_file() -> dict[str, object]:
    values = {}
    for line in (TUTORIAL_FILES / "airflow.env").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = json.loads(shlex.split(value)[0])
    return values


def test_tutorial_stub_dag_matches_the_bundle_and_the_configuration() -> None:
    bundle = load_bundle(str(TUTORIAL_FILES / "orders.py"))
    dag_id, stubs, queues = _stub_dag()
    env = _env_file()
    coordinators = env["AIRFLOW__SDK__COORDINATORS"]
    routes = env["AIRFLOW__SDK__QUEUE_TO_COORDINATOR"]
    assert isinstance(coordinators, dict)
    assert isinstance(routes, dict)

    assert list(bundle.dags) == [dag_id]
    assert stubs == list(bundle.dags[dag_id].tasks)
    (queue,) = queues
    coordinator = coordinators[routes[queue]]
    assert coordinator["classpath"] == "airflow.sdk.coordinators.executable.ExecutableCoordinator"
    (root,) = coordinator["kwargs"]["executables_root"]
    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    assert f"cp bundles/orders {root}/orders" in tutorial


# ---------------------------------------------------------------------------- the API reference


def _documented(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return re.findall(r"^\.\. auto(?:class|exception|function|data):: (\S+)$", text, re.MULTILINE)


@pytest.mark.parametrize(
    ("module", "page"),
    [(trio_coord, "reference/api.rst"), (trio_coord.testing, "reference/testing.rst")],
)
def test_every_public_name_is_in_the_reference_once(module: object, page: str) -> None:
    documented = [name for name in _documented(DOCS / page) if "." not in name]
    assert sorted(documented) == sorted(set(documented)), "documented twice"
    assert sorted(documented) == sorted(module.__all__)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- bundle-format.md


def test_bundle_format_launcher_is_what_pack_writes(tmp_path: Path) -> None:
    (launcher,) = [b for b in blocks(DOCS / "bundle-format.md") if b.info == "sh"]

    result = pack(
        str(REPO / "tests" / "sample_bundle.py"),
        tmp_path / "sample",
        interpreter="/opt/venv/bin/python",
        verify=False,
        installed=True,
    )

    assert result.path.read_bytes().startswith(launcher.body.encode())


def test_bundle_format_self_contained_launcher_is_what_pack_writes() -> None:
    block = _block_starting(DOCS / "bundle-format.md", "text", "#!/bin/sh")
    script = block.body[: block.body.index("\n#CODE ") + 1]
    assert block.body[len(script) :].split("\n")[1] == "#BOOT"  # then the text, as without the #CODE line

    written = build_self_contained_launcher("/usr/bin/python3.11", "bundle", {}).decode()

    assert written.startswith(script + "#BOOT\n")


def test_bundle_format_manifest_is_what_pack_embeds() -> None:
    block = _block_starting(DOCS / "bundle-format.md", "json", '{\n    "airflow_bundle_metadata_version"')
    bundle = Bundle("sample", "2.0")
    dag = bundle.dag("sample")

    @dag.task
    async def hello(ctx: TaskContext) -> None: ...

    @dag.task(task_id="123")
    async def numeric_id(ctx: TaskContext) -> None: ...

    written = dump_manifest(build_manifest(bundle, source="sample_bundle.py"), "json")
    shown = block.body.replace('version: "0.1.0"', f'version: "{trio_coord.__version__}"')
    assert written == shown
