"""What the user sees is what happens (the parts a page test can read; the Chromium side is in
tests/e2e/test_what_you_see_browser.py): every table writes a missing value as "—"; a small share is
never "0.0%"; faces are numbered from 1 on the photo, in the table, the CSV and the JSON; the video
uploader's limit is the setting's; job lines name what they work on; the checkpoint interval's
label says what it is."""
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer import config as C
from fer.labels import CLASSES
from fer.ui.numbers import share

import builders as b
from builders import REPO, app_page
from test_model_versions import fake_run


def _placeholders(at) -> list[str]:
    return [d.proto.placeholder for d in at.dataframe]


def test_every_table_writes_a_missing_value_as_a_dash(store, tmp_path):
    from test_training import tiny_dataset

    tiny_dataset(tmp_path)
    run = fake_run("no figures")  # a run with no test accuracy yet: its cells are missing
    from fer import actions

    actions.runs.rename(actions.Actor.local(), run.id, "still no figures")  # a record for the Activity page
    for page, params in (("4_Runs", {}), ("1_Dataset", {}), ("11_Activity", {}), ("10_Settings", {})):
        at = app_page(page, params, timeout=60).run()
        assert not at.exception and _placeholders(at), page
        assert set(_placeholders(at)) == {"—"}, page
    home = AppTest.from_file(str(REPO / "Home.py"), default_timeout=60).run()
    assert set(_placeholders(home)) == {"—"}


@pytest.mark.parametrize("x, shown", [(0, "0%"), (14 / 35887, "0.039%"), (0.0012, "0.1%"), (0.5, "50.0%"),
                                      (None, "—")])
def test_a_share_is_never_zero_for_a_count_that_is_not(x, shown):
    assert share(x) == shown


def test_the_quality_overview_shows_a_tiny_share_as_it_is(store, tmp_path):
    from fer.data import import_dataset

    src = b.imagefolder(tmp_path / "src", classes=("happy", "sad"), per_class=1200)
    b.write(src / "happy" / "black.png", _black())  # 1 of 2,401: 0.042 %
    import_dataset([str(src)], "d", workers=1)
    at = app_page("2_Quality", {"dataset": "d"}, timeout=60).run()
    shares = [m.value for m in at.markdown if m.value.endswith("%")]
    assert "0.042%" in shares and "0.0%" not in shares


def _black() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_faces_are_numbered_from_one_in_the_table_the_csv_and_the_json():
    from fer.predict import FaceResult, image_record, results_table

    faces = [FaceResult(box=(0, 0, 10, 10), landmarks=None, probs={c: 1 / 7 for c in CLASSES},
                        label="angry", score=1.0) for _ in range(3)]
    model = {"name": "default", "version": "shipped", "sha256": "0" * 64}
    assert list(results_table([("a.png", faces)], model)["face"]) == [1, 2, 3]
    assert [f["face"] for f in image_record("a.png", faces, model)["faces"]] == [1, 2, 3]


def test_the_photo_numbers_its_faces_as_the_table_does():
    from fer.draw import annotate
    from fer.predict import FaceResult

    probs = {c: 1 / 7 for c in CLASSES}
    face = FaceResult(box=(40, 40, 120, 120), landmarks=None, probs=probs, label="angry", score=1.0)
    plain = annotate(np.zeros((200, 300, 3), np.uint8), [face], bars=False)
    numbered = annotate(np.zeros((200, 300, 3), np.uint8), [face], bars=False, numbered=True)
    assert not np.array_equal(plain, numbered)  # "1 angry 14%" where the plain label has no number
    assert (numbered[10:40, 40:200] > 0).sum() > (plain[10:40, 40:200] > 0).sum()


def test_the_video_uploader_says_the_settings_limit(store, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_MAX_MIB", "77")
    at = app_page("8_Predict", {}, timeout=120).run()
    video = next(u for u in at.get("file_uploader") if u.proto.label.startswith("A video"))
    assert video.proto.max_upload_size_mb == 77
    assert any("Up to 77 MiB" in c.value for c in at.caption)


def test_job_lines_name_what_they_work_on(store, tmp_path, monkeypatch):
    from fer import jobs

    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path))
    monkeypatch.setattr("fer.jobs.queue.schedule", lambda: [])  # queued, not run
    src = b.imagefolder(tmp_path / "src", classes=("happy", "sad"), per_class=3)
    from fer.data import SourceSpec
    from fer.jobs import launch

    launch.import_dataset([SourceSpec(str(src))], "faces-of-mine")
    assert [j["what"] for j in jobs.listing()] == ["dataset faces-of-mine"]
    at = app_page("1_Dataset", {}, timeout=60).run()
    assert any("import dataset faces-of-mine: queued" in c.value for c in at.caption)


def test_the_checkpoint_interval_says_what_it_is():
    assert C.label("checkpoint.every_seconds") == "checkpoint every (seconds)"
