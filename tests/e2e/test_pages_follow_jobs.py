"""Pages follow the background jobs in a real browser, without a reload: Explore shows a dataset
once its import ends, Train and Runs show a training once it ends, Evaluate shows a new
evaluation once its job ends. Also: two Quality clicks in a row both count."""
import re
import csv
import io

import numpy as np
import pytest
from PIL import Image

expect = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported; "
                             "pip install -r requirements.txt").expect

TIMEOUT_MS = 60_000
JOB_MS = 240_000  # a job's whole life, torch import and a smoke training included, on a busy machine


def dark_images(root, per_class=8):
    """Small class folders of dark noise: every image is flagged "too dark"."""
    rng = np.random.default_rng(0)
    for cls in ("happy", "sad", "angry"):
        folder = root / "train" / cls
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 40, (48, 48), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0


def choose(page, label, option, where=None, tries=10):
    """Pick ``option`` in the select box ``label``. A click that lands while the box is still moving
    (an expander opening) opens no list: click again once the list has not come."""
    box = (where or page).get_by_role("combobox", name=label, exact=True)
    wanted = page.get_by_role("option", name=option, exact=True)
    for attempt in range(tries):
        box.click()
        try:
            expect(wanted).to_be_visible(timeout=3000)
            break
        except AssertionError:
            if attempt == tries - 1:
                raise
    wanted.click()


def settled(page, timeout=TIMEOUT_MS):
    """Wait until the page's script run is over: no running indicator, no element left from the
    previous run (Streamlit marks those stale until the run ends), every image loaded (a picture
    still loading has no height yet: what is below it moves when it comes)."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=timeout)
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=timeout)


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def test_explore_shows_an_import_once_it_ends(store, app_server, page, screenshot, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path))
    src = dark_images(tmp_path / "src")
    page.goto(app_server(store) + "/Dataset")
    expect(page.get_by_text("Several sources make one dataset")).to_be_visible(timeout=TIMEOUT_MS)
    name_box = page.get_by_role("textbox", name="Dataset name")
    name_box.fill("../x")
    name_box.press("Enter")  # an invalid name says what a valid one is, before anything runs
    expect(page.get_by_text("cannot name a dataset: use letters, digits")).to_be_visible(timeout=TIMEOUT_MS)
    name_box.fill("fresh")
    name_box.press("Enter")
    expect(page.get_by_text("cannot name a dataset")).to_have_count(0, timeout=TIMEOUT_MS)
    folder_box = page.get_by_role("textbox", name="Folder, zip or CSV on the server")
    folder_box.fill(str(src))
    folder_box.press("Enter")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("button", name="Clear the sources")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Importing fresh as a job")).to_be_visible(timeout=TIMEOUT_MS)
    # no reload: the page reruns itself when the job ends and selects what it wrote
    expect(sidebar(page).get_by_role("combobox", name="Dataset")).to_have_value("fresh", timeout=JOB_MS)
    page.get_by_role("tab", name="Explore").click()
    expect(page.get_by_text("24 images · sources: src")).to_be_visible(timeout=TIMEOUT_MS)
    with page.expect_download() as download:  # made when clicked, not sent with every run of the page
        page.get_by_role("button", name="Manifest (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    assert download.value.suggested_filename == "fresh_manifest.csv" and len(rows) == 24
    no_exception(page)
    screenshot("explore-after-import")
    page.get_by_role("button", name="Review them on Quality →").click()  # in the same tab
    expect(page.get_by_text("flagged: duplicates across splits")).to_be_visible(timeout=TIMEOUT_MS)
    assert len(page.context.pages) == 1 and "dataset=fresh" in page.url


def test_two_quality_clicks_in_a_row_both_count(store, app_server, page, screenshot, tmp_path):
    from fer.data import exclusions, import_dataset

    import_dataset([str(dark_images(tmp_path / "src"))], "dark", workers=1)
    page.goto(app_server(store) + "/Quality?dataset=dark")
    expect(page.get_by_text("Every check at this dataset's thresholds")).to_be_visible(timeout=TIMEOUT_MS)
    screenshot("quality-overview")
    page.get_by_role("button", name="too dark →").click()
    expect(page.get_by_text("flagged: too dark")).to_be_visible(timeout=TIMEOUT_MS)
    exclude = page.get_by_role("button", name="Exclude", exact=True)
    # a decision moves no other button: one that moved as the next click landed lost that click
    # (the caption of a decided tile grew a line and pushed the tiles below it down)
    settled(page)
    before = [exclude.nth(i).bounding_box() for i in range(1, 12)]
    exclude.nth(0).click()
    expect(page.get_by_role("button", name="Keep", exact=True)).to_have_count(1, timeout=TIMEOUT_MS)
    settled(page)
    assert [exclude.nth(i).bounding_box() for i in range(0, 11)] == before
    # two more images, one click each, without waiting in between
    exclude.nth(0).click()
    exclude.nth(1).click()
    expect(page.get_by_role("button", name="Keep", exact=True)).to_have_count(3, timeout=TIMEOUT_MS)
    assert len(exclusions.excluded("dark")) == 3
    # checks picked one after another all take effect (every second one was lost)
    for check in ("too bright", "tiny", "too dark"):
        sidebar(page).get_by_text(check, exact=True).click()
        expect(page.get_by_text(f"flagged: {check}")).to_be_visible(timeout=TIMEOUT_MS)
    no_exception(page)
    screenshot("quality-two-clicks")


def summary_csv(page) -> list[dict]:
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the summary (CSV)").click()
    return list(csv.DictReader(io.StringIO(open(download.value.path()).read())))


def test_train_runs_and_evaluate_show_what_jobs_wrote(store, app_server, browser, screenshot, tmp_path):
    from fer.data import import_dataset

    import_dataset([str(dark_images(tmp_path / "src", per_class=12))], "dark", workers=1)
    base = app_server(store)
    context = browser.new_context(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
    train, runs = context.new_page(), context.new_page()
    try:
        train.goto(base + "/Train")
        expect(train.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        choose(train, "Preset", re.compile(r"^smoke · "))  # each preset with its cost
        train.get_by_role("button", name="Train", exact=True).click()
        expect(train.get_by_text("queued: it trains in its own process")).to_be_visible(timeout=TIMEOUT_MS)
        # Runs, opened while the training runs: its table follows without a reload
        runs.goto(base + "/Runs")
        expect(runs.get_by_role("heading", name="Runs")).to_be_visible(timeout=TIMEOUT_MS)
        first = summary_csv(runs)
        # Train: the panel says finished by itself
        # .first: while the page reruns for the ended job, its panel can be there twice for a moment
        expect(train.get_by_text("finished", exact=True).first).to_be_visible(timeout=JOB_MS)
        train.screenshot(path=str(tmp_path / "train-finished.png"))
        # Runs: the whole page has rerun: its summary now holds the finished run's figures
        expect(runs.get_by_text("training ")).to_have_count(0, timeout=JOB_MS)
        settled(runs)
        last = summary_csv(runs)
        assert int(last[0]["epochs"]) == 2 and last[0].get("val accuracy"), (first, last)
        assert int(first[0]["epochs"] or 0) < 2 or not first[0].get("val accuracy"), first
        runs.screenshot(path=str(tmp_path / "runs-finished.png"))
        no_exception(train)
        no_exception(runs)

        # Evaluate: a new evaluation (the val split) appears once its job ends
        ev = runs
        ev.goto(base + f"/Evaluate?model={last[0]['id']}")
        expect(ev.get_by_role("heading", name="Evaluate")).to_be_visible(timeout=TIMEOUT_MS)
        ev.get_by_text("Evaluate on a dataset of the store").click()
        expect(ev.get_by_role("button", name="Evaluate", exact=True)).to_be_in_viewport(timeout=TIMEOUT_MS)
        choose(ev, "Split", "val")  # clicks again if the expander was still opening
        ev.get_by_role("button", name="Evaluate", exact=True).click()
        expect(ev.get_by_text("on dark/val runs as a job", exact=False)).to_be_visible(timeout=TIMEOUT_MS)
        sidebar(ev).get_by_role("combobox", name="Evaluation").click()
        expect(ev.get_by_role("option").filter(has_text="dark / val")).to_have_count(0)
        ev.keyboard.press("Escape")
        expect(ev.get_by_text("evaluate ").filter(has_text="running")).to_have_count(0, timeout=JOB_MS)
        sidebar(ev).get_by_role("combobox", name="Evaluation").click()
        expect(ev.get_by_role("option").filter(has_text="dark / val")).to_have_count(1, timeout=TIMEOUT_MS)
        ev.keyboard.press("Escape")
        no_exception(ev)
        ev.screenshot(path=str(tmp_path / "evaluate-after-job.png"))
    finally:
        context.close()


def test_predict_analyses_a_video_as_a_job_and_the_browser_plays_the_result(store, app_server, browser, tmp_path):
    from builders import untrained_model
    from test_video_jobs import write_video

    untrained_model(store / "models" / "default")
    clip = write_video(tmp_path / "astro.mp4", n=250, fps=25)  # 10 s: it must play to its end in this tab
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 4000)
    context = browser.new_context(viewport={"width": 1280, "height": 1700}, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(app_server(store) + "/Predict")
        # the first load imports torch and loads the model: slow on a busy machine
        expect(page.get_by_role("tab", name="Video")).to_be_visible(timeout=JOB_MS)
        page.get_by_role("tab", name="Video").click()
        upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(1)
        upload.set_input_files(str(tmp_path / "broken.mp4"))
        expect(page.get_by_text("broken.mp4", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Analyse").click()
        expect(page.get_by_text("broken.mp4: not a readable video")).to_be_visible(timeout=TIMEOUT_MS)
        upload.set_input_files(str(clip))
        expect(page.get_by_text("astro.mp4", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        # the upload's own rerun has reached the server once the old refusal is gone
        expect(page.get_by_text("broken.mp4: not a readable video")).to_have_count(0, timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Analyse").click()
        # no reload: the results appear when the job ends
        expect(page.get_by_role("button", name="Annotated video (MP4)")).to_be_visible(timeout=JOB_MS)
        # in the tab that ran it (no reload), it plays to its end: it stopped at 0.7 s (MEDIA_ERR_NETWORK)
        # when the page's own reruns took the file away from under the player
        played = page.evaluate("""async () => {
            const v = document.querySelector('video'); v.muted = true; v.playbackRate = 4; await v.play();
            await new Promise(r => { v.onended = r; v.onerror = r; setTimeout(r, 30000); });
            return {width: v.videoWidth, time: v.currentTime, duration: v.duration, ended: v.ended,
                    error: v.error && v.error.code}; }""")
        assert played["width"] == 640 and played["ended"] and played["error"] is None, played
        with page.expect_download() as download:
            page.get_by_role("button", name="Annotated video (MP4)").click()
        assert download.value.suggested_filename == "astro_annotated.mp4"
        no_exception(page)
    finally:
        page.screenshot(path=str(tmp_path / "predict-video.png"))
        print(f"screenshot: {tmp_path / 'predict-video.png'}")
        context.close()
