"""The layering the README's Architecture section describes, checked on the sources (ast), so it
cannot regress silently."""
import ast
from pathlib import Path

from builders import REPO

FER = REPO / "fer"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved, ``from fer import training``
    included (as ``fer.training``), and constant names given to ``import_module``/``__import__``."""
    rel = path.relative_to(REPO).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join([*parent, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
    return found


def _may_import_training(rel: str) -> bool:
    # fer/sweeps sits with the jobs: its config checks and the trial's epoch hook are a job's
    return rel in ("fer/cli.py", "fer/__main__.py") or rel.startswith(("fer/training/", "fer/jobs/", "fer/sweeps/")) \
        or rel == "fer/jobs.py"


def test_training_is_imported_only_by_the_cli_and_job_entry_points():
    offenders = []
    for path in sorted(FER.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if _may_import_training(rel):
            continue
        bad = sorted(m for m in _imported_modules(path) if m == "fer.training" or m.startswith("fer.training."))
        offenders += [f"{rel} imports {m}" for m in bad]
    assert not offenders, "fer/training is a leaf:\n" + "\n".join(offenders)


def test_the_import_check_sees_every_form(tmp_path):
    """The checker itself: absolute, from-, relative and dynamic imports of fer.training are seen."""
    probe = FER / "ui" / "_probe_for_test.py"
    forms = ["import fer.training.trainer", "from fer.training import config", "from fer import training",
             "from ..training import launch", "import importlib; importlib.import_module('fer.training.data')"]
    try:
        for form in forms:
            probe.write_text(form + "\n")
            assert any(m.startswith("fer.training") for m in _imported_modules(probe)), form
    finally:
        probe.unlink(missing_ok=True)


def test_every_figure_comes_from_the_charts_module():
    """Pages lay figures out; plotly is imported by fer/ui/charts.py alone."""
    files = [*FER.rglob("*.py"), *(REPO / "pages").glob("*.py"), REPO / "Home.py"]
    offenders = [f"{p.relative_to(REPO)} imports {m}" for p in sorted(files) if p != FER / "ui" / "charts.py"
                 for m in sorted(_imported_modules(p)) if m == "plotly" or m.startswith("plotly.")]
    assert not offenders, "\n".join(offenders)


def test_streamlit_is_imported_by_pages_and_fer_ui_only():
    offenders = [f"{p.relative_to(REPO)}" for p in sorted(FER.rglob("*.py")) if "ui" not in p.relative_to(FER).parts
                 and any(m == "streamlit" or m.startswith("streamlit.") for m in _imported_modules(p))]
    assert not offenders, "\n".join(offenders)
