"""The journey a new user takes, in Chromium, from an empty store: import the mini dataset from an
uploaded zip → Explore shows it without a reload → Quality: exclude two images with two clicks, undo
one → train from the Train page and watch it finish → Runs: compare, promote to a new name, promote
over it, restore → Evaluate: click a confusion-matrix cell, land on Errors filtered → Explain one
mistake → Predict an uploaded photo, download the CSV (it names the model) → Live with a 30 fps
fake camera: boxes on the face, fresh frames, a timeline whose time increases.

One server, one browser, steps in order. Each step asserts what the user sees, and that no page
shows Streamlit's exception box; it waits on what the user waits on (a job's state on the page, a
message, a table), never on a fixed sleep. A step that fails keeps its screenshot
(``NN-step-FAILED.png``) and the journey goes on with the steps that do not need it; the test fails
at the end with the table of every step's status and duration (printed whatever happens)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported; "
                               "pip install -r requirements.txt")
expect = sync_api.expect
from skimage import data as skdata  # a requirement: imported, never skipped

from conftest import LAUNCH_ARGS, REPO, find_chromium  # noqa: E402  (tests/e2e/conftest.py)

SHARED = REPO.parent / "shared" / "data"
MINI = SHARED / "fer2013-mini.zip"
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
               "--autoplay-policy=no-user-gesture-required"]
PAGE_MS = 90_000  # a page's first run imports torch, timm, plotly: slow on a loaded 2-core machine
JOB_MS = 480_000  # an import or a smoke training, queued behind whatever else runs
MODEL = "journey"


@dataclass
class Journey:
    page: object
    base: str
    shots: Path
    work: Path
    results: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # what one step learns for the next (run ids, a cell)

    def passed(self, name: str) -> bool:
        return any(r["step"] == name and r["status"] == "passed" for r in self.results)

    def run(self, name: str, body, needs: tuple[str, ...] = ()) -> None:
        n = len(self.results) + 1
        missing = [s for s in needs if not self.passed(s)]
        if missing:
            self.results.append({"step": name, "status": f"not run (needs {', '.join(missing)})", "seconds": 0.0})
            return
        t0 = time.monotonic()
        try:
            body(self)
            assert self.page.locator('[data-testid="stException"]').count() == 0, "an exception box on the page"
        except Exception as e:  # AssertionError, Playwright's TimeoutError: the step failed, the journey goes on
            shot = self.shots / f"{n:02d}-{name}-FAILED.png"
            self.page.screenshot(path=str(shot), full_page=True)
            self.results.append({"step": name, "status": "FAILED", "seconds": round(time.monotonic() - t0, 1),
                                 "why": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}", "screenshot": str(shot),
                                 "trace": traceback.format_exc(limit=3)})
            return
        self.page.screenshot(path=str(self.shots / f"{n:02d}-{name}.png"), full_page=True)
        self.results.append({"step": name, "status": "passed", "seconds": round(time.monotonic() - t0, 1)})

    def table(self) -> str:
        lines = [f"{'step':14} {'status':36} {'seconds':>7}"]
        for r in self.results:
            lines.append(f"{r['step']:14} {r['status']:36} {r['seconds']:>7.1f}" + (f"  {r['why']}" if "why" in r else ""))
        return "\n".join(lines)


# -- what a user does, in Streamlit's DOM ---------------------------------------------------------

def go(j: Journey, page_name: str) -> None:
    """Click a page in the sidebar and wait for its title."""
    j.page.locator('[data-testid="stSidebarNav"] a').filter(has_text=re.compile(f"^{page_name}$")).click()
    expect(j.page.get_by_role("heading", name=page_name, exact=True)).to_be_visible(timeout=PAGE_MS)


def metric(j: Journey, label: str):
    return (j.page.locator('[data-testid="stMetric"]').filter(has=j.page.get_by_text(label, exact=True))
            .locator('[data-testid="stMetricValue"]'))


def type_into(j: Journey, label: str, text: str) -> None:
    box = j.page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    box.press("Enter")


def choose(j: Journey, label: str, option, multi: bool = False) -> None:
    """Pick ``option`` (text or pattern) in the select box (or multiselect) labelled ``label``."""
    box = j.page.get_by_role("combobox", name=label, exact=True)
    box.click()
    j.page.get_by_role("option", name=option).first.click()
    if multi:  # a multiselect's list stays open (and hides the page from the accessibility tree)
        box.press("Escape")
        expect(j.page.get_by_role("listbox")).to_have_count(0)


def unpick(j: Journey, text: str) -> None:
    """Remove the multiselect's chosen value that contains ``text``."""
    j.page.get_by_role("button", name=re.compile(f"^Remove .*{re.escape(text)}")).click()


def button(j: Journey, name: str):
    return j.page.get_by_role("button", name=name, exact=True)


# -- the steps ------------------------------------------------------------------------------------

def import_mini(j: Journey) -> None:
    j.page.goto(j.base)
    expect(j.page.get_by_text("No dataset yet", exact=False).first).to_be_visible(timeout=PAGE_MS)
    go(j, "Dataset")
    type_into(j, "Dataset name", "mini")
    j.page.get_by_text("an uploaded zip", exact=True).click()
    uploader = j.page.locator('[data-testid="stFileUploader"]').filter(has_text="A zip of images")
    uploader.locator('input[type="file"]').set_input_files(str(MINI))
    expect(uploader.get_by_text("fer2013-mini.zip")).to_be_visible(timeout=PAGE_MS)
    expect(button(j, "Add")).to_be_enabled(timeout=PAGE_MS)
    button(j, "Add").click()
    expect(button(j, "Clear the sources")).to_be_visible(timeout=PAGE_MS)
    button(j, "Preview").click()
    expect(j.page.get_by_text(re.compile(r"Formats: .*fer2013-folders"))).to_be_visible(timeout=PAGE_MS)
    button(j, "Import").click()
    expect(j.page.get_by_text("Importing mini as a job", exact=False)).to_be_visible(timeout=PAGE_MS)
    # (while the page reruns for the ended job, the line may stand twice for a moment: the first counts)
    expect(j.page.get_by_text(re.compile(r"import dataset \S+: finished")).first).to_be_visible(timeout=JOB_MS)


def explore_without_reload(j: Journey) -> None:
    j.page.get_by_role("tab", name="Explore").click()
    expect(j.page.get_by_text(re.compile(r"^350 images · sources"))).to_be_visible(timeout=PAGE_MS)
    expect(j.page.get_by_role("heading", name="mini", exact=True)).to_be_visible()


def quality_clicks(j: Journey) -> None:
    go(j, "Quality")
    j.page.locator('[data-testid="stSidebar"]').get_by_text("near duplicates", exact=True).click()
    excluded = metric(j, "excluded (all checks)")
    expect(metric(j, "flagged: near duplicates")).to_have_text("2", timeout=PAGE_MS)  # one pair in the mini set
    expect(excluded).to_have_text("0")
    for n in ("1", "2"):  # two images, one click each
        button(j, "Exclude").first.click()
        expect(excluded).to_have_text(n, timeout=PAGE_MS)
    button(j, "Undo the last action").click()
    expect(excluded).to_have_text("1", timeout=PAGE_MS)
    expect(button(j, "Keep")).to_have_count(1)


def train_two(j: Journey) -> None:
    go(j, "Train")
    preset = j.page.get_by_role("combobox", name="Preset", exact=True)
    expect(preset).to_have_value(re.compile(r"^quick · "), timeout=PAGE_MS)  # the quick one, with its cost here
    expect(metric(j, "estimated time")).to_be_visible()
    choose(j, "Preset", re.compile(r"^smoke · "))
    expect(j.page.get_by_text("checks the pipeline end to end", exact=False)).to_be_visible(timeout=PAGE_MS)
    # the fields are the smoke preset's now (its batch of 32, where quick has 64), not the ones they replace
    expect(j.page.get_by_role("spinbutton", name="batch size", exact=True)).to_have_value("32", timeout=PAGE_MS)
    epochs = j.page.get_by_role("spinbutton", name="epochs", exact=True)
    epochs.fill("1")
    epochs.press("Enter")
    expect(metric(j, "epochs")).to_have_text("1", timeout=PAGE_MS)  # the review follows the options as set
    queued = j.page.get_by_text(re.compile(r"^Run \S+ queued: it trains in its own process"))
    button(j, "Train").click()
    expect(queued).to_be_visible(timeout=PAGE_MS)
    first = queued.inner_text()
    type_into(j, "run name", "smoke b")
    seed = j.page.get_by_role("spinbutton", name="seed", exact=True)
    seed.fill("1")
    seed.press("Enter")
    expect(seed).to_have_value("1")
    expect(metric(j, "epochs")).to_have_text("1")  # still the options as set
    expect(queued).to_have_count(0, timeout=PAGE_MS)  # the form changed: the message was about the last press
    button(j, "Train").click()
    expect(queued).to_be_visible(timeout=PAGE_MS)
    assert queued.inner_text() != first
    # both run panels say finished: the page follows the jobs by itself
    expect(j.page.get_by_text(re.compile(r"· mini · finished$"))).to_have_count(2, timeout=JOB_MS)
    ids = j.page.locator('[data-testid="stMarkdownContainer"] code').all_inner_texts()
    j.facts["runs"] = [i for i in dict.fromkeys(ids) if re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", i)][:2]
    assert len(j.facts["runs"]) == 2, ids


def runs_promote_restore(j: Journey) -> None:
    go(j, "Runs")
    newest, older = j.facts["runs"]  # the panels list the newest first
    choose(j, "Compare runs", re.compile(re.escape(older)), multi=True)
    legend = j.page.locator('[data-testid="stPlotlyChart"] .legendtext')
    expect(legend.filter(has_text=f"smoke b ({newest}) val_loss")).to_have_count(1, timeout=PAGE_MS)
    expect(legend.filter(has_text=f"smoke ({older}) val_loss")).to_have_count(1)
    expect(j.page.get_by_role("heading", name="Summary")).to_be_visible()
    # one run to manage: drop the other from the comparison
    unpick(j, older)
    expect(j.page.get_by_role("heading", name="Manage smoke b")).to_be_visible(timeout=PAGE_MS)
    name_box = j.page.get_by_role("textbox", name=f"Model name for run {newest}", exact=True)
    expect(name_box).to_have_value("")  # nothing offered: no promotion by accident
    type_into(j, f"Model name for run {newest}", MODEL)
    expect(j.page.get_by_text(f"'{MODEL}' is a new model: run {newest} becomes {MODEL}@1.")).to_be_visible(
        timeout=PAGE_MS)
    button(j, f"Promote run {newest} to {MODEL}").click()
    expect(j.page.get_by_text(f"Promoted: {MODEL}@1 is now the current {MODEL}.")).to_be_visible(timeout=PAGE_MS)
    # the other run over it: what it replaces is shown beside it, and asked
    unpick(j, newest)
    choose(j, "Compare runs", re.compile(re.escape(older)), multi=True)
    expect(j.page.get_by_role("heading", name="Manage smoke", exact=True)).to_be_visible(timeout=PAGE_MS)
    type_into(j, f"Model name for run {older}", MODEL)
    expect(j.page.get_by_text(f"Now current: {MODEL}@1")).to_be_visible(timeout=PAGE_MS)
    expect(j.page.get_by_text(f"Run {older}, as {MODEL}@2")).to_be_visible()
    expect(j.page.get_by_text(f"source run {newest}")).to_be_visible()
    expect(metric(j, "leak-free accuracy")).to_have_count(2)
    replace = button(j, f"Promote run {older} and replace {MODEL}@1")
    expect(replace).to_be_disabled()
    j.page.get_by_text(f"Yes, replace {MODEL}@1 as the current {MODEL}").click()
    expect(replace).to_be_enabled(timeout=PAGE_MS)
    replace.click()
    expect(j.page.get_by_text(f"Promoted: {MODEL}@2 is now the current {MODEL}.")).to_be_visible(timeout=PAGE_MS)
    # restore: the Models tab lists both versions; one click makes the first current again
    j.page.get_by_role("main").get_by_role("link", name="See every version on the Models tab →").click()
    expect(j.page.get_by_role("heading", name=f"{MODEL} · current: version 2")).to_be_visible(timeout=PAGE_MS)
    expect(j.page.get_by_role("heading", name="default · current: the shipped model")).to_be_visible()
    first = j.page.locator('[data-testid="stHorizontalBlock"]').filter(has_text=newest)  # version 1's row
    first.get_by_role("button", name="Make version 1 current", exact=True).click()
    expect(j.page.get_by_text(f"{MODEL}@1 is now the current {MODEL}.")).to_be_visible(timeout=PAGE_MS)
    expect(j.page.get_by_role("heading", name=f"{MODEL} · current: version 1")).to_be_visible()


CELLS_JS = """() => {
  const plot = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
      .find(p => p.data && p.data.length === 2 && p.data[0].type === 'heatmap');
  if (!plot) return null;
  const t = plot.data[1];
  return t.x.map((x, i) => ({i, pred: x, true: t.y[i], n: t.customdata[i][0]})); }"""


def evaluate_click_a_cell(j: Journey) -> None:
    j.page.locator(f'a[href*="model={MODEL}%401"]').filter(has_text="Evaluate").first.click()
    expect(j.page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible(timeout=PAGE_MS)
    expect(j.page.get_by_role("heading", name="Confusion matrix")).to_be_visible(timeout=PAGE_MS)
    j.page.wait_for_function(f"() => ({CELLS_JS})() !== null", timeout=PAGE_MS)
    cells = j.page.evaluate(CELLS_JS)
    cell = max((c for c in cells if c["true"] != c["pred"]), key=lambda c: c["n"])
    assert cell["n"] > 0, "no mistake at all on the mini test split"
    j.facts["cell"] = cell
    j.page.locator('[data-testid="stPlotlyChart"] .scatterlayer .point').nth(cell["i"]).click(force=True)
    j.page.wait_for_url(re.compile(r"/Errors\?"), timeout=PAGE_MS)  # the same tab
    assert f"true={cell['true']}" in j.page.url and f"pred={cell['pred']}" in j.page.url, j.page.url
    expect(j.page.get_by_text(f"{cell['n']} misclassified image(s)", exact=False)).to_be_visible(timeout=PAGE_MS)
    assert len(j.page.context.pages) == 1


def explain_a_mistake(j: Journey) -> None:
    cell = j.facts["cell"]
    j.page.get_by_role("main").get_by_role("link", name="Explain", exact=True).first.click()  # not the sidebar's
    expect(j.page.get_by_role("heading", name="Explain", exact=True)).to_be_visible(timeout=PAGE_MS)
    expect(j.page.get_by_text(f"input (true: {cell['true']})")).to_be_visible(timeout=PAGE_MS)
    expect(j.page.get_by_text(f"A mistake: {cell['true']} seen as", exact=False)).to_be_visible(timeout=PAGE_MS)
    # the maps for both classes: what pulled it to the wrong one, and what the right one looks at
    expect(j.page.get_by_text(f"GradCAM for {cell['true']}", exact=True)).to_be_visible(timeout=PAGE_MS)
    expect(button(j, "Download (PNG)")).to_be_visible(timeout=PAGE_MS)
    assert len(j.page.context.pages) == 1


def predict_a_photo(j: Journey) -> None:
    from PIL import Image

    photo = j.work / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    go(j, "Predict")
    j.page.locator('[data-testid="stFileUploader"]').filter(has_text="Photos").locator(
        'input[type="file"]').set_input_files(str(photo))
    expect(j.page.get_by_text("astronaut.png · 1 face(s)")).to_be_visible(timeout=PAGE_MS)
    with j.page.expect_download(timeout=PAGE_MS) as download:
        button(j, "CSV").click()
    table = pd.read_csv(download.value.path())
    weights = REPO / "fer" / "pretrained" / "default" / "model.safetensors"
    assert table[["model", "model_version"]].values.tolist() == [["default", "shipped"]], table
    assert table["model_sha256"].tolist() == [hashlib.sha256(weights.read_bytes()).hexdigest()]
    assert table["label"].tolist() == ["happy"]




def live_camera(j: Journey) -> None:
    import live_probe as probe  # tests/e2e/live_probe.py: the camera's frame counter read back

    go(j, "Live")
    j.page.frame_locator("iframe[title*='webrtc']").first.get_by_role("button", name="START").click(timeout=PAGE_MS)
    records = probe.Records.empty()
    j.page.wait_for_function(probe.CAMERA_OPEN_JS, timeout=PAGE_MS)
    frame = probe.probe_frame(j.page)  # the component's iframe, which opened the camera
    frame.wait_for_function(probe.new_frames_js(1), timeout=PAGE_MS)  # the model and the detector load first
    records.add(frame.evaluate(probe.DRAIN_JS))
    t0 = frame.evaluate("() => performance.now()")
    # fresh frames keep coming (not a stream that stalls), with pictures to check the boxes on: ten
    # new ones within a generous deadline (how many a second is bench/live_browser.py's figure)
    frame.wait_for_function(probe.new_frames_js(10, shots=5), timeout=PAGE_MS)
    records.add(frame.evaluate(probe.DRAIN_JS))
    t1 = frame.evaluate("() => performance.now()")
    figures = probe.summarise(records, t0, t1, probe.face_offset())
    j.facts["live"] = figures
    box = figures["box"]
    assert box["frames_checked"] >= 3 and box["without_box"] <= box["frames_checked"] // 4, box
    assert box["corner_error_px"]["median"] <= 25, box  # boxes on the face
    expect(j.page.get_by_text("emotion now")).to_be_visible(timeout=PAGE_MS)
    j.page.wait_for_function(f"() => {{ const x = ({probe.TIMELINE_X})(); return x && x.length > 1; }}", timeout=PAGE_MS)
    first = j.page.evaluate(probe.TIMELINE_X)
    j.page.wait_for_function(f"() => {{ const x = ({probe.TIMELINE_X})(); return x && x[x.length - 1] > {first[-1]}; }}",
                             timeout=PAGE_MS)
    later = j.page.evaluate(probe.TIMELINE_X)
    assert later == sorted(later) and later[-1] > first[-1], "the timeline's time went back"


STEPS = [("import", import_mini, ()), ("explore", explore_without_reload, ("import",)),
         ("quality", quality_clicks, ("import",)), ("train", train_two, ("import",)),
         ("runs", runs_promote_restore, ("train",)), ("evaluate", evaluate_click_a_cell, ("runs",)),
         ("explain", explain_a_mistake, ("evaluate",)), ("predict", predict_a_photo, ()), ("live", live_camera, ())]


@pytest.fixture
def journey_page(pw, tmp_path):
    """A browser of its own (the fake camera is a launch argument); the camera and the page probe
    come from live_probe when it is there."""
    args = list(LAUNCH_ARGS + CAMERA_ARGS)
    init = None
    try:
        import live_probe as probe

        args.append(f"--use-file-for-fake-video-capture={probe.write_camera(tmp_path / 'camera.y4m')}")
        init = probe.PROBE_JS
    except ImportError:
        pass
    browser = pw.chromium.launch(executable_path=find_chromium(), args=args)
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
    if init:
        context.add_init_script(init)
    yield context.new_page()
    browser.close()


def test_the_journey_of_a_new_user(store, app_server, journey_page, tmp_path):
    if not MINI.exists():
        pytest.skip(f"{MINI} is absent (the real test data sits in ../shared/data beside the checkout)")
    shots = tmp_path / "journey"
    shots.mkdir()
    j = Journey(journey_page, app_server(store), shots, tmp_path)
    # FER_JOURNEY_STEPS=import,train,runs runs those steps only (while working on one of them)
    chosen = [s for s in os.environ.get("FER_JOURNEY_STEPS", "").split(",") if s] or [s[0] for s in STEPS]
    t0 = time.monotonic()
    for name, body, needs in STEPS:
        if name in chosen:
            j.run(name, body, needs)
        else:
            j.results.append({"step": name, "status": "left out (FER_JOURNEY_STEPS)", "seconds": 0.0})
    total = time.monotonic() - t0
    report = j.table() + f"\ntotal {total:.0f} s; screenshots in {shots}"
    print(report)
    (shots / "journey.json").write_text(json.dumps({"total_s": round(total, 1), "steps": j.results,
                                                    "facts": {k: v for k, v in j.facts.items() if k != "cell"}},
                                                   indent=1, default=str))
    failed = [r for r in j.results if r["status"] not in ("passed", "left out (FER_JOURNEY_STEPS)")]
    assert not failed, report + "\n\n" + "\n".join(r.get("trace", "") for r in failed)
