"""The store knows its layout: file names spelled in one module, one lister of runs, one pair of
folder helpers, ids checked (no '..', no absolute paths, no links out of the store, no unknown id),
and record versions that change when a file is rewritten."""
import ast
import os
import re
from pathlib import Path

import pytest

from fer import store
from fer.store import (Dataset, Evaluation, Job, Model, ModelNotFound, NotFound, Run, RunError, StoreError,
                       image_id_of, io, layout, resolve_model)

from builders import REPO

APP = sorted([*(REPO / "fer").rglob("*.py"), *(REPO / "pages").glob("*.py"), REPO / "Home.py"])
NAMES = re.compile("|".join(re.escape(n) for n in layout.FILE_NAMES) + r"|cache-\{?|_flip\.")


def _strings(path: Path):
    """Every string constant of a module but its docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text("utf-8"))
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def _offenders(paths, allowed: str, root: Path = REPO) -> list[str]:
    out = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if rel != allowed:
            out += [f"{rel}:{line}: {text!r}" for line, text in _strings(path) if NAMES.search(text)]
    return out


def test_every_store_file_name_is_spelled_in_the_layout_module_only():
    offenders = _offenders(APP, "fer/store/layout.py")
    assert not offenders, "spell store file names in fer/store/layout.py only:\n" + "\n".join(offenders)


def test_the_file_name_check_sees_a_planted_literal(tmp_path):
    planted = tmp_path / "fer" / "planted.py"  # a copy of the tree's shape, never the checkout itself
    planted.parent.mkdir()
    planted.write_text('"""A docstring may say model.json."""\nx = f"{root}/metrics.jsonl"\n')
    found = _offenders([planted], "fer/store/layout.py", root=tmp_path)
    assert len(found) == 1 and found[0].startswith("fer/planted.py:2") and "metrics.jsonl" in found[0]


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None
            yield node.lineno, owner, name, node


def test_one_lister_of_runs_and_one_pair_of_folder_helpers():
    listers, swaps = [], []
    for path in APP:
        rel = path.relative_to(REPO).as_posix()
        for line, owner, name, node in _calls(path):
            if name in ("runs_dir", "jobs_dir") and not rel.startswith("fer/store/"):
                listers.append(f"{rel}:{line}: {name}()")
            path_move = name in ("rename", "replace") and len(node.args) == 1 and not node.keywords
            if rel != "fer/store/io.py" and (name in ("rmtree", "renameat2") or (owner == "os" and name in (
                    "replace", "rename")) or (owner == "shutil" and name == "move") or path_move):
                swaps.append(f"{rel}:{line}: {owner or ''}.{name}()")
    assert not listers, "runs and jobs are listed by fer.store only:\n" + "\n".join(listers)
    assert not swaps, "folders and files move through fer.store.io only:\n" + "\n".join(swaps)


def test_replace_folder_swaps_in_a_finished_folder_and_carries_the_users_files(tmp_path):
    target = tmp_path / "d"
    target.mkdir()
    (target / "old.txt").write_text("old")
    (target / "keep.csv").write_text("decisions")
    new = io.new_folder_beside(target)
    assert new.parent == tmp_path and new.name.startswith(".")
    (new / "new.txt").write_text("new")
    io.replace_folder(new, target, carry=["keep.csv", "absent"])
    assert sorted(p.name for p in target.iterdir()) == ["keep.csv", "new.txt"]
    assert (target / "keep.csv").read_text() == "decisions"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # nothing left beside it
    io.remove_folder(target)
    assert list(tmp_path.iterdir()) == []


def test_an_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    target = io.write_text(tmp_path / "a.json", "old")

    def broken(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize("bad", ["..", "../x", "/etc", "a/b", ".hidden", "", "x" * 65, "a b"])
def test_ids_that_leave_the_store_or_are_not_names_are_refused(store, bad):
    for opener in (Run.open, Dataset.open, Model.open, Job.open):
        with pytest.raises(StoreError):
            opener(bad)
    with pytest.raises(StoreError):
        resolve_model(bad, allow_paths=False)
    with pytest.raises(StoreError):
        Evaluation.parse_id(f"{bad}/test")


def test_links_out_of_the_store_and_unknown_ids_are_refused(store, tmp_path):
    outside = tmp_path / "outside"
    (outside / "runs" / "r1").mkdir(parents=True)
    (outside / "runs" / "r1" / layout.RUN).write_text("{}")
    (outside / "data").mkdir()
    (outside / "data" / layout.DATASET_INFO).write_text("{}")
    (store / "runs").mkdir(parents=True)
    (store / "datasets").mkdir()
    os.symlink(outside / "runs" / "r1", store / "runs" / "r1")
    os.symlink(outside / "data", store / "datasets" / "d1")
    with pytest.raises(NotFound, match="leaves the store"):
        Run.open("r1")
    with pytest.raises(NotFound, match="leaves the store"):
        Dataset.open("d1")
    with pytest.raises(RunError, match="no run 'nope'"):
        Run.open("nope")
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        Dataset.open("nope")
    with pytest.raises(ModelNotFound):
        Model.open("nope")
    for bad in ("tiny", "tiny/nosplit", "a/b/c", "tiny/../test"):
        with pytest.raises(NotFound):
            Evaluation.parse_id(bad)
    assert Evaluation.parse_id("tiny / test") == ("tiny", "test")  # as older links wrote it


def test_image_ids_resolve_through_the_manifest_only(store, tmp_path):
    import builders as b
    from fer.data import import_dataset

    import_dataset([str(b.fer2013_folders(tmp_path / "fer"))], "tiny", workers=1)
    d = Dataset.open("tiny")
    path = d.manifest()["path"].iloc[3]
    image_id = image_id_of(path)
    assert len(image_id) == 16 and d.image(image_id) == path
    for bad in ("../../etc/passwd", path, "0" * 16, "ABCDEF0123456789"):
        with pytest.raises(NotFound):
            d.image(bad)


def test_a_record_version_changes_when_its_files_are_rewritten(store, tmp_path):
    import builders as b
    from fer.data import exclusions, import_dataset

    import_dataset([str(b.fer2013_folders(tmp_path / "fer"))], "tiny", workers=1)
    before = Dataset.open("tiny").stamp
    exclusions.record("tiny", [Dataset.open("tiny").manifest()["path"].iloc[0]], "exclude")
    assert Dataset.open("tiny").stamp != before


def test_the_store_is_the_working_folders_artifacts_without_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("FER_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert store.root() == (tmp_path / "artifacts").resolve()


def test_ids_sort_in_the_order_they_were_made_within_one_second(store):
    from fer import jobs
    from fer.store import new_id

    ids = [new_id() for _ in range(1000)]  # many within one second, several seconds' boundaries maybe
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", i) for i in ids)  # the id's format is kept
    # two runs made back to back (in one second, on a quick machine): the second is the newest
    cfg = {"dataset": "x", "model": {"backbone": "fer_cnn"}}
    first, second = Run.create({**cfg, "name": "first"}), Run.create({**cfg, "name": "second"})
    assert [r.name for r in Run.list()] == ["second", "first"]
    assert [j["id"] for j in jobs.listing()] == [first.id, second.id]  # oldest first
