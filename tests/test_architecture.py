"""The layering the README's Architecture table describes, checked on the sources (ast) over every
folder of the application (``fer/``, ``Home.py``, ``pages/``, ``training/``, ``bench/``), so it
cannot regress silently: the table itself is the contract this test reads.

- every module sits in one layer of the table, and imports only from its own layer or below;
- no import circle between ``fer``'s packages and top-level modules (an import inside a function
  counts; a package's own modules may refer to each other);
- ``fer.training`` is imported only by ``fer/jobs``, ``fer/cli.py``, ``fer/__main__.py``, the
  ``training/`` scripts and ``bench/`` (tests may import anything);
- jobs are queued through ``fer/jobs/launch.py`` only (``submit`` is called nowhere else);
- plotly only in ``fer/ui/charts.py``, Streamlit only in ``fer/ui`` and the pages.

Each checker is also run on planted sources (written under ``tmp_path``, never into the checkout)
that break its rule, so a checker that sees nothing cannot pass silently.
"""
import ast
import re
from pathlib import Path

import pytest

from builders import REPO

APP_FOLDERS = ("fer", "pages", "training", "bench")
TRAINING_IMPORTERS = ("fer/training/", "fer/jobs/", "fer/cli.py", "fer/__main__.py", "training/", "bench/")
SUBMITTERS = ("fer/jobs/queue.py", "fer/jobs/launch.py")


def app_files(root: Path = REPO) -> list[Path]:
    files = [root / "Home.py"] if (root / "Home.py").exists() else []
    for folder in APP_FOLDERS:
        files += sorted((root / folder).rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def layers(readme: str) -> list[tuple[str, list[str]]]:
    """The README's Architecture table: (layer, [paths]) bottom up; a path ending in / is a folder."""
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return [(cells[0].strip(), re.findall(r"`([^`]+)`", cells[1])) for cells in rows]


def layer_of(rel: str, table) -> int | None:
    for i, (_, paths) in enumerate(table):
        if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in paths):
            return i
    return None


def unit_of(module: str) -> str:
    """``fer.data`` for ``fer.data.quality``; ``fer.cli`` for itself; ``fer`` for the package."""
    return ".".join(module.split(".")[:2])


def module_name(rel: str) -> str:
    return rel[:-3].removesuffix("/__init__").replace("/", ".")


def imports(source: str, rel: str, root: Path = REPO) -> set[str]:
    """Every fer module a file imports: relative imports resolved, ``from fer import store`` as
    ``fer.store``, imports inside functions and constant names given to ``import_module`` included."""
    package = module_name(rel).split(".") if rel.endswith("__init__.py") else module_name(rel).split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source, rel)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            for a in node.names:  # a submodule imported by name is that module
                sub = f"{base}.{a.name}"
                is_module = (root / sub.replace(".", "/")).with_suffix(".py").exists() or \
                    (root / sub.replace(".", "/") / "__init__.py").exists()
                found.add(sub if is_module else base)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
    return {m for m in found if m == "fer" or m.startswith("fer.")}


def layer_violations(files: dict[str, str], table, root: Path = REPO) -> list[str]:
    out = []
    for rel, source in files.items():
        mine = layer_of(rel, table)
        if mine is None:
            out.append(f"{rel}: in no layer of the README's Architecture table")
            continue
        for m in sorted(imports(source, rel, root)):
            target = _file_of(m, root)
            theirs = layer_of(target, table) if target else None
            if theirs is not None and theirs > mine:
                out.append(f"{rel} ({table[mine][0]}) imports {m} ({table[theirs][0]}), a layer above it")
    return out


def _file_of(module: str, root: Path) -> str | None:
    for candidate in (module.replace(".", "/") + ".py", module.replace(".", "/") + "/__init__.py"):
        if (root / candidate).exists():
            return candidate
    return None


def circles(files: dict[str, str], root: Path = REPO) -> list[list[str]]:
    """Import circles between units of fer (its packages and top-level modules)."""
    graph: dict[str, set[str]] = {}
    for rel, source in files.items():
        if not rel.startswith("fer/"):
            continue
        here = unit_of(module_name(rel))
        graph.setdefault(here, set()).update(u for u in map(unit_of, imports(source, rel, root)) if u not in (here, "fer"))
    found, seen = [], set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycle = path[path.index(nxt):]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append(cycle + [nxt])
            elif len(path) < len(graph):
                visit(nxt, path + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found


def training_importers(files: dict[str, str], root: Path = REPO) -> list[str]:
    return [f"{rel} imports {m}" for rel, source in files.items() if not rel.startswith(TRAINING_IMPORTERS)
            for m in sorted(imports(source, rel, root)) if m == "fer.training" or m.startswith("fer.training.")]


def submitters(files: dict[str, str]) -> list[str]:
    out = []
    for rel, source in files.items():
        if rel in SUBMITTERS:
            continue
        for node in ast.walk(ast.parse(source, rel)):
            if isinstance(node, ast.Call) and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "submit":
                out.append(f"{rel}:{node.lineno} calls submit")
    return out


def third_party(files: dict[str, str], package: str, allowed) -> list[str]:
    out = []
    for rel, source in files.items():
        if allowed(rel):
            continue
        for node in ast.walk(ast.parse(source, rel)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            out += [f"{rel} imports {n}" for n in names if n == package or n.startswith(package + ".")]
    return out


@pytest.fixture(scope="module")
def app():
    return {f.relative_to(REPO).as_posix(): f.read_text("utf-8") for f in app_files()}


@pytest.fixture(scope="module")
def table():
    t = layers((REPO / "README.md").read_text("utf-8"))
    assert len(t) >= 10, t
    return t


def test_every_module_sits_in_a_layer_and_imports_only_from_its_own_layer_or_below(app, table):
    missing = [p for _, paths in table for p in paths if not (REPO / p).exists()]
    assert not missing, f"the README's Architecture table names what does not exist: {missing}"
    bad = layer_violations(app, table)
    assert not bad, "\n".join(bad)


def test_no_import_circle_between_fers_packages(app):
    found = circles(app)
    assert not found, "\n".join(" → ".join(c) for c in found)


def test_training_is_imported_only_by_jobs_the_cli_and_its_scripts(app):
    found = training_importers(app)
    assert not found, "fer/training is a leaf:\n" + "\n".join(found)


def test_jobs_are_queued_through_one_module(app):
    found = submitters(app)
    assert not found, "queue jobs through fer/jobs/launch.py:\n" + "\n".join(found)


def test_every_figure_comes_from_the_charts_module(app):
    found = third_party(app, "plotly", lambda rel: rel == "fer/ui/charts.py" or rel.startswith("bench/"))
    assert not found, "\n".join(found)


def test_streamlit_is_imported_by_pages_and_fer_ui_only(app):
    found = third_party(app, "streamlit", lambda rel: not rel.startswith("fer/") or rel.startswith("fer/ui/"))
    assert not found, "\n".join(found)


def test_the_readme_layout_names_every_module(app):
    layout = (REPO / "README.md").read_text("utf-8").split("## Layout", 1)[1]
    unnamed = [rel for rel in app if rel.startswith("fer/") and not rel.endswith("__init__.py")
               and Path(rel).stem not in layout]
    assert not unnamed, f"the README's Layout does not name: {unnamed}"


# -- the checkers themselves, on planted sources ---------------------------------------------------

def _planted(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    """A small tree of the repository's shape under tmp_path (the checkers resolve modules there)."""
    for rel, source in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        for parent in path.relative_to(tmp_path).parents:
            if parent.parts and parent.parts[0] == "fer":
                (tmp_path / parent / "__init__.py").touch()
    return files


TOY_TABLE = [("basics", ["fer/labels.py"]), ("store", ["fer/store/"]), ("training", ["fer/training/"]),
             ("jobs", ["fer/jobs/"]), ("ui", ["fer/ui/"]), ("faces", ["pages/", "fer/cli.py", "bench/"])]


def test_the_layer_check_sees_an_import_from_above_in_every_form(tmp_path):
    forms = ["import fer.jobs.queue", "from fer.jobs import queue", "from fer import jobs", "from ..jobs import queue",
             "def f():\n    from fer.jobs.queue import submit", "import importlib; importlib.import_module('fer.jobs.queue')"]
    base = {"fer/jobs/queue.py": "", "fer/labels.py": ""}
    for form in forms:
        files = _planted(tmp_path, {**base, "fer/store/records.py": form + "\n"})
        bad = layer_violations({"fer/store/records.py": files["fer/store/records.py"]}, TOY_TABLE, tmp_path)
        assert bad and "a layer above it" in bad[0], form
    files = _planted(tmp_path, {**base, "fer/store/records.py": "from fer import labels\n", "pages/1_A.py": "import fer.jobs\n"})
    assert layer_violations(files, TOY_TABLE, tmp_path) == []
    assert layer_violations({"fer/elsewhere.py": ""}, TOY_TABLE, tmp_path) == ["fer/elsewhere.py: in no layer of the "
                                                                             "README's Architecture table"]


def test_the_circle_check_sees_a_circle_through_a_function_level_import(tmp_path):
    files = _planted(tmp_path, {"fer/jobs/kinds.py": "from fer.ui import panel\n",
                                "fer/ui/panel.py": "def f():\n    from fer.jobs import kinds\n",
                                "fer/store/a.py": "from fer.store import b\n", "fer/store/b.py": "from fer.store import a\n"})
    assert circles(files, tmp_path) == [["fer.jobs", "fer.ui", "fer.jobs"]]  # a package's own modules may


def test_the_training_and_submit_checks_see_a_planted_offender(tmp_path):
    files = _planted(tmp_path, {"fer/training/trainer.py": "", "fer/ui/x.py": "from fer.training import trainer\n",
                                "pages/2_B.py": "from fer import training\n", "bench/t.py": "import fer.training.trainer\n",
                                "fer/jobs/kinds.py": "import fer.training.trainer\n"})
    assert training_importers(files, tmp_path) == ["fer/ui/x.py imports fer.training.trainer",
                                                   "pages/2_B.py imports fer.training"]
    assert submitters({"pages/3_C.py": "from fer import jobs\njobs.submit('train', {})\n",
                       "fer/jobs/launch.py": "submit('x', {})\n"}) == ["pages/3_C.py:2 calls submit"]


def test_the_readme_table_is_read_as_layers():
    readme = "## Architecture\n\n| layer | where | what |\n| --- | --- | --- |\n| a | `x.py`, `y/` | ... |\n" \
             "| b | `z.py` | ... |\n\n## Next\n| c | `w.py` | |\n"
    assert layers(readme) == [("a", ["x.py", "y/"]), ("b", ["z.py"])]


# -- one door for every change ------------------------------------------------------------------------
FACES = ("Home.py", "pages/", "fer/ui/", "fer/cli.py", "training/")
# what writes the store (records' methods, the store's and the library's writers, the job queue):
# the faces of the app call these only through an action of fer.actions
WRITERS = {
    "promote", "add_version", "restore", "change_name", "set_name", "delete", "write_config", "append_metrics",
    "write_status", "write_spec", "request_stop", "create", "remove_folder", "replace_folder", "move_folder",
    "new_folder_beside", "write_json", "write_text", "write_bytes", "write_parquet", "append_line", "atomic_write",
    "replace_file", "import_dataset", "align_dataset", "record", "revert", "save_upload", "rename", "submit", "cancel",
    "schedule", "resume", "resume_run", "clear_training", "train", "trial", "train_here", "new_run", "reimport",
    "align", "evaluate", "evaluate_model", "sweep", "run_here", "import_zip", "save", "launch",
}
NOT_WRITERS = {("Sweep", "create")}  # a checked sweep, in memory


def _action_names(tree: ast.AST) -> set[str]:
    """Names a file binds to fer.actions or its modules (calls through them are actions)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("fer", "fer.actions") or \
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fer.actions."):
            names |= {a.asname or a.name for a in node.names if node.module != "fer" or a.name == "actions"}
        elif isinstance(node, ast.Import):
            names |= {a.asname for a in node.names if a.name.startswith("fer.actions") and a.asname}
    return names


def store_writers(files: dict[str, str]) -> list[str]:
    """Calls from the faces of the app to a writer of the store that do not go through an action."""
    out = []
    for rel, source in files.items():
        if not rel.startswith(FACES):
            continue
        tree = ast.parse(source, rel)
        allowed = _action_names(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f, root, chain = node.func, node.func, set()
            name = getattr(f, "attr", None) or getattr(f, "id", None)
            while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
                chain.add(getattr(root, "attr", None))  # jobs.launch.video(): a writer along the chain
                root = root.value if not isinstance(root, ast.Call) else root.func
            root_name = root.id if isinstance(root, ast.Name) else None
            if (chain | {name}) & WRITERS and root_name not in allowed and (root_name, name) not in NOT_WRITERS:
                out.append(f"{rel}:{node.lineno} {ast.unparse(f)}()")
        out += [f"{rel} imports {m}" for m in sorted(imports(source, rel)) if m == "fer.jobs.launch"]
    return out


def test_pages_and_the_cli_change_the_store_through_actions_only(app):
    found = store_writers(app)
    assert not found, "call an action of fer.actions (with the actor) instead:\n" + "\n".join(found)


def test_the_door_check_sees_a_store_write_from_a_page():
    planted = {"pages/5_X.py": "from fer import actions, store\nfrom fer.store import Run\n"
                               "actions.models.promote(actor, 'r', 'best')\nstore.promote('r', 'best')\n"
                               "Run.open('r').delete()\n",
               "fer/ui/y.py": "from fer.actions import decisions\ndecisions.decide(a, 'd', [], 'keep')\n"
                              "from fer.data import exclusions\nexclusions.record('d', [], 'keep')\n",
               "fer/cli.py": "from fer import jobs\njobs.launch.video('a.mp4', b'', 'default')\nst.video(b'')\n",
               "training/t.py": "from fer.jobs import launch\n",
               "fer/models/z.py": "store.promote('r', 'b')\n"}  # the library itself may
    assert store_writers(planted) == ["pages/5_X.py:4 store.promote()", "pages/5_X.py:5 Run.open('r').delete()",
                                      "fer/ui/y.py:4 exclusions.record()", "fer/cli.py:2 jobs.launch.video()",
                                      "training/t.py imports fer.jobs.launch"]
