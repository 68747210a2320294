"""Dataset and Quality pages with AppTest: import from the UI, explore, review checks, decide."""
import io
import time
import zipfile

from streamlit.testing.v1 import AppTest

from fer import jobs
from fer.jobs import launch
from fer.data import SourceSpec, exclusions, import_dataset, manifest
from fer.data import importing

import builders as b
from builders import REPO
from test_quality import _planted

DATASET = str(REPO / "pages" / "1_Dataset.py")
QUALITY = str(REPO / "pages" / "2_Quality.py")


def test_pages_on_an_empty_store(store):
    for page in (DATASET, QUALITY):
        at = AppTest.from_file(page, default_timeout=60).run()
        assert not at.exception and any("No dataset yet" in i.value for i in at.info)


def test_mapping_preview_matches_the_import(store, tmp_path):
    src = b.imagefolder(tmp_path / "mine", classes=("joy", "sad", "calm", "anger"), per_class=3)
    p = importing.preview([SourceSpec(str(src))], ["joy=happy"])
    r = import_dataset([str(src)], "m", mapping=["joy=happy"], workers=1)
    counts = r.manifest["label_name"].value_counts()
    assert p["counts"]["mine"].to_dict() == {c: int(counts.get(c, 0)) for c in p["counts"].index}
    assert p["dropped"] == r.info["dropped"] == {"calm": 3}
    assert p["formats"] == {"mine": "imagefolder"}


def test_refusals_from_the_ui_write_nothing(store, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path / "allowed"))
    (tmp_path / "allowed").mkdir()
    outside = b.imagefolder(tmp_path / "outside", classes=("happy",), per_class=2)
    at = AppTest.from_file(DATASET, default_timeout=60).run()
    at.text_input(key="new-name").set_value("x")
    at.text_input(key="new-path").set_value(str(outside))
    at.button(key="add-path").click().run()
    assert "no folder, zip or CSV of that name inside the import roots" in at.error[0].value
    # an unknown layout: the preview says so
    unknown = b.write(tmp_path / "allowed" / "odd" / "a" / "p.png", b.image_bytes()).parent.parent
    at.text_input(key="new-path").set_value(str(unknown))
    at.button(key="add-path").click().run()
    next(x for x in at.button if x.label == "Preview").click().run()
    assert "cannot tell the format" in at.error[0].value
    # uploads: not a zip, and a zip whose names climb out of it
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../evil.png", b.image_bytes())
    for fname, data, reason in (("notes.zip", b"plain text", "not a zip archive"),
                                ("evil.zip", evil.getvalue(), "escapes the archive")):
        at = AppTest.from_file(DATASET, default_timeout=60).run()
        at.text_input(key="new-name").set_value("x")
        at.radio[0].set_value("an uploaded zip").run()
        at.get("file_uploader")[0].upload(fname, data, "application/zip")
        at.run()
        at.button(key="add-zip").click().run()
        assert reason in at.error[0].value, at.error
    assert not (store / "datasets").exists() or not any((store / "datasets").rglob("*.*"))


def test_upload_zip_import_job_and_explore(store, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path))
    z = b.zip_folder(b.fer2013_folders(tmp_path / "fer"), tmp_path / "fer.zip", prefix="fer2013/")
    saved = importing.save_upload("up", "fer.zip", z.read_bytes())
    assert saved == store / "datasets" / "up" / "sources" / "fer.zip"
    folder = launch.import_dataset([SourceSpec(str(saved))], "up")
    t = time.time()
    while jobs.status(folder)["state"] in jobs.ACTIVE:
        assert time.time() - t < 120
        time.sleep(0.3)
    assert jobs.status(folder)["state"] == "finished", (folder / "log.txt").read_text()
    assert (store / "datasets" / "up" / "sources" / "fer.zip").exists()  # the upload stays resolvable
    assert len(manifest("up")) == 56
    at = AppTest.from_file(DATASET, default_timeout=120).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 4
    assert any("byte-identical groups" in m.value for m in at.markdown)
    assert {d.label for d in at.get("download_button")} >= {"Manifest (CSV)", "Manifest (parquet)"}


def test_quality_threshold_exclude_training_and_undo(store, tmp_path):
    import_dataset([str(_planted(tmp_path))], "p", workers=1)
    at = AppTest.from_file(QUALITY, default_timeout=60)
    at.query_params["check"] = "too dark"
    at.run()
    assert not at.exception
    metrics = lambda: {m.label: m.value for m in at.metric}  # noqa: E731
    assert metrics()["flagged: too dark"] == "2"
    at.sidebar.slider[0].set_value(128.0).run()  # moving the threshold re-flags from stored statistics
    many = int(metrics()["flagged: too dark"])
    assert many > 2
    at.sidebar.slider[0].set_value(30.0).run()
    at.button(key="exclude-all").click().run()  # exclude everything flagged
    dark = set(manifest("p").query("q_dark")["path"])
    assert exclusions.excluded("p") == dark and metrics()["excluded (all checks)"] == "2"
    from fer.data.arrays import load

    train = load("p", 48, 1)
    assert not set(train["train"].rows["path"]) & dark  # training honours the decisions
    at.button(key="undo").click().run()
    assert exclusions.excluded("p") == set() and exclusions.latest("p") == {}  # undecided again, not "kept"
    assert list(exclusions.read("p")["decision"]) == ["exclude", "exclude", "clear", "clear"]


def test_quality_groups_and_every_view(store, tmp_path):
    root = _planted(tmp_path)
    b.write(root / "train" / "happy" / "Training_9999.jpg", b"broken")  # and a corrupt file
    import_dataset([str(root)], "p", workers=1)
    for view in ("corrupt", "low variance / blank", "too bright", "tiny", "no face", "exact duplicates",
                 "near duplicates", "duplicates across splits", "conflicting labels"):
        at = AppTest.from_file(QUALITY, default_timeout=60)
        at.query_params["check"] = view
        at.run()
        assert not at.exception, view
        flagged = int({m.label: m.value for m in at.metric}[f"flagged: {view}"].replace(",", ""))
        expected = {"corrupt": 1, "low variance / blank": 1, "too bright": 1, "tiny": 1, "no face": 0,
                    "exact duplicates": 3, "near duplicates": 3 + 2, "duplicates across splits": 3,
                    "conflicting labels": 3}
        assert flagged == expected[view], view
    # near duplicates: the byte copies (a Hamming distance of 0) and the re-encoded copy (a few bits off)
    at = AppTest.from_file(QUALITY, default_timeout=60)
    at.query_params["check"] = "near duplicates"
    at.run()
    groups = [m.value for m in at.markdown if m.value.startswith("**group")]
    assert len(groups) == 2 and "3 images · splits test, train · labels happy, sad" in groups[0]
    assert "2 images · splits train · labels fear" in groups[1]
    at.sidebar.slider[0].set_value(0.0).run()  # identical hashes only: the re-encoded copy drops out
    assert {m.label: m.value for m in at.metric}["flagged: near duplicates"] == "3"
    assert not any("labels fear" in m.value for m in at.markdown)
    at = AppTest.from_file(QUALITY, default_timeout=60)
    at.query_params["check"] = "exact duplicates"
    at.run()
    assert any(m.value.startswith("**group") and "3 images" in m.value for m in at.markdown)
    group_button = next(x for x in at.button if x.key and x.key.startswith("group-"))
    group_button.click().run()
    df = manifest("p")
    dup = df[df["dup_group"].notna()]
    assert len(dup) == 3
    # the copy kept is the first by train < val < test, then path: the original in train/happy
    kept = dup[dup["path"].str.contains("train/happy")]["path"].item()
    assert exclusions.excluded("p") == set(dup["path"]) - {kept}


def test_pages_on_the_mini_dataset(store, mini_zip):
    import_dataset([str(mini_zip)], "mini")
    at = AppTest.from_file(DATASET, default_timeout=120).run()
    assert not at.exception and any("350 images" in c.value for c in at.caption)
    at = AppTest.from_file(QUALITY, default_timeout=60)
    at.query_params["check"] = "too bright"
    at.run()
    assert not at.exception and {m.label: m.value for m in at.metric}["images"] == "350"


def _quality(check=None, dataset=None):
    at = AppTest.from_file(QUALITY, default_timeout=60)
    if check:
        at.query_params["check"] = check
    if dataset:
        at.query_params["dataset"] = dataset
    return at.run()


def _flagged_label(at):
    return next(m.label for m in at.metric if m.label.startswith("flagged: "))


def test_quality_every_change_of_check_takes_effect_the_first_time(store, tmp_path):
    """The page writes the chosen check back to ?check=; an unkeyed radio whose index came from
    it changed identity on every other run, and that run's click was dropped."""
    import_dataset([str(_planted(tmp_path))], "p", workers=1)
    at = _quality("too dark")
    for view in ("too bright", "tiny", "corrupt", "near duplicates", "too dark"):
        at.sidebar.radio[0].set_value(view).run()
        assert not at.exception
        assert _flagged_label(at) == f"flagged: {view}"
        assert at.query_params["check"] == view


def test_quality_two_images_in_a_row_are_both_recorded_and_undo_takes_one_back(store, tmp_path):
    root = _planted(tmp_path)
    import_dataset([str(root)], "p", workers=1)
    at = _quality("too dark")  # two images: the black one and the dark one
    paths = list(manifest("p").query("q_dark")["path"])
    assert len(paths) == 2
    from fer.store import image_id_of

    for p in paths:  # one click each, on two different images, in a row
        at.button(key=f"exclude-{image_id_of(p)}").click().run()
        assert not at.exception
    assert exclusions.excluded("p") == set(paths)
    assert {m.label: m.value for m in at.metric}["excluded (all checks)"] == "2"
    at.button(key=f"keep-{image_id_of(paths[0])}").click().run()  # keep the first again
    assert exclusions.excluded("p") == {paths[1]}
    at.button(key="undo").click().run()  # undo the keep: excluded again
    assert exclusions.excluded("p") == set(paths)
    assert list(exclusions.read("p")["decision"]) == ["exclude", "exclude", "keep", "exclude"]


def test_quality_opens_with_an_overview_of_every_check(store, tmp_path):
    import_dataset([str(_planted(tmp_path))], "p", workers=1)
    n = len(manifest("p"))
    at = _quality()
    assert not at.exception
    assert at.sidebar.radio(key="quality-check").value == "overview"
    assert any("Every check" in h.value for h in at.subheader)
    texts = [m.value for m in at.markdown]
    # too dark flags 2 images, exact duplicates 3 images in 1 group: counts and shares are shown
    assert "2" in texts and f"{2 / n:.1%}" in texts and f"{3 / n:.1%}" in texts
    at.button(key="open-too dark").click().run()  # the check's link opens its view, same session
    assert _flagged_label(at) == "flagged: too dark" and at.query_params["check"] == "too dark"
    at.button(key="open-overview").click().run()
    assert any("Every check" in h.value for h in at.subheader)


def test_quality_groups_larger_than_a_row_are_paged_not_cut(store, tmp_path):
    root = b.fer2013_folders(tmp_path / "fer", per_class=(2, 1, 1))
    copy = b.image_bytes(seed=7)
    for i in range(11):  # one group of 11 byte-identical images
        b.write(root / "train" / "happy" / f"Training_77{i:02d}.jpg", copy)
    import_dataset([str(root)], "g", workers=1)
    group = manifest("g").query("dup_group.notna()")
    assert len(group) == 11
    at = _quality("exact duplicates", "g")
    from fer.store import image_id_of

    def shown():
        return {k for p in group["path"] for k in (f"exclude-{image_id_of(p)}", f"keep-{image_id_of(p)}")
                if any(x.key == k for x in at.button)}

    first = shown()
    assert len(first) == 8 and any("images 1–8 of 11" in c.value for c in at.caption)
    part = next(x for x in at.number_input if x.key and x.key.startswith("part-"))
    part.set_value(2).run()
    second = shown()
    assert len(second) == 3 and not first & second  # the other three, none lost


def test_an_empty_or_invalid_name_says_what_a_valid_name_is_before_anything_runs(store, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path))
    src = b.imagefolder(tmp_path / "mine", classes=("happy", "sad"), per_class=2)
    at = AppTest.from_file(DATASET, default_timeout=60).run()
    assert any(c.value.startswith("A dataset needs a name: letters, digits") for c in at.caption)
    at.text_input(key="new-path").set_value(str(src))
    at.button(key="add-path").click().run()
    importing_button = lambda: next(x for x in at.button if x.label == "Import")  # noqa: E731
    assert importing_button().disabled  # a source, but no name: nothing can run
    for bad in ("../up", "my set", ".hidden", "x" * 65):
        at.text_input(key="new-name").set_value(bad).run()
        assert at.error and "cannot name a dataset: use letters, digits" in at.error[0].value, bad
        assert importing_button().disabled
    at.text_input(key="new-name").set_value("mine").run()
    assert not at.error and not importing_button().disabled
    import_dataset([str(src)], "taken", workers=1)
    at.text_input(key="new-name").set_value("taken").run()
    assert "exists already" in at.error[0].value and importing_button().disabled
    assert not (store / "jobs").exists()
