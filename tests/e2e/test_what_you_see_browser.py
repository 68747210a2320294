"""What a button says is what it does, to the thing the page shows, in Chromium at the two window
sizes users have: after a delete every part of the Dataset page names the dataset now selected;
figures are never cut (Evaluate's metrics, the Train page's estimate); a run's panel never shows the
controls of two states at once while the run ends."""
import re

import pytest

from fer.data import import_dataset
from fer.store import Run

from test_evaluation import seeded_run  # noqa: F401  (a fixture: a finished run evaluated on tiny)
from test_pages_follow_jobs import JOB_MS, TIMEOUT_MS, dark_images, no_exception, settled, sidebar

expect = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported; "
                             "pip install -r requirements.txt").expect

SIZES = [(1400, 1000), (1280, 720)]

# The metrics (buttons) with an element whose content is wider than its box: Streamlit cuts it with an
# ellipsis.
CUT_FIGURES = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].filter(m =>
    [m, ...m.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)).map(m => m.textContent)"""

CUT_BUTTONS = """() => [...document.querySelectorAll('button')].filter(b =>
    [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)).map(b => b.textContent)"""


@pytest.fixture
def sized(browser, tmp_path):
    """``sized(w, h)``: a fresh page of that window size; each one is saved as a screenshot at the end."""
    made = []

    def open_page(width, height):
        context = browser.new_context(viewport={"width": width, "height": height})
        made.append((context, context.new_page(), f"{width}x{height}"))
        return made[-1][1]

    yield open_page
    for context, p, size in made:
        path = tmp_path / f"final-{size}.png"
        p.screenshot(path=str(path))
        print(f"screenshot: {path}")
        context.close()


@pytest.mark.parametrize("width,height", SIZES)
def test_after_a_delete_every_part_of_the_page_names_the_selected_dataset(store, app_server, sized, tmp_path,
                                                                          width, height):
    for name in ("alpha", "beta"):
        import_dataset([str(dark_images(tmp_path / name, per_class=2))], name, workers=1)
    page = sized(width, height)
    page.goto(app_server(store) + "/Dataset?dataset=alpha")
    page.get_by_role("tab", name="Manage").click()
    expect(page.get_by_text("Yes, delete alpha")).to_be_visible(timeout=TIMEOUT_MS)
    # what the rename field holds is what it would rename the dataset shown to
    expect(page.get_by_role("textbox", name="New name")).to_have_value("alpha")
    page.get_by_text("Yes, delete alpha").click()
    page.get_by_role("button", name="Delete alpha").click()
    # every part of the page now names beta, the one left and selected
    expect(sidebar(page).get_by_role("combobox", name="Dataset")).to_have_value("beta", timeout=TIMEOUT_MS)
    expect(page.get_by_text("Yes, delete beta")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Yes, delete alpha")).to_have_count(0)
    expect(page.get_by_role("textbox", name="New name")).to_have_value("beta")
    # a delete button, if there is one, names what the sidebar shows, and it starts unticked
    expect(page.get_by_role("button", name="Delete beta")).to_be_disabled()
    expect(page.get_by_role("checkbox", name="Yes, delete beta")).not_to_be_checked()
    settled(page)  # and it stays so once every rerun has landed
    expect(sidebar(page).get_by_role("combobox", name="Dataset")).to_have_value("beta")
    expect(page.get_by_text("Yes, delete alpha")).to_have_count(0)
    no_exception(page)
    page.screenshot(path=str(tmp_path / f"manage-after-delete-{width}x{height}.png"))


@pytest.mark.parametrize("width,height", SIZES)
def test_each_version_button_names_the_version_it_makes_current(store, app_server, sized, tmp_path, seeded_run,  # noqa: F811
                                                                 width, height):
    from fer import actions

    actions.models.promote(actions.Actor.local(), seeded_run.name, "default")  # default@1 replaces the shipped one
    page = sized(width, height)
    page.goto(app_server(store) + "/Runs?view=Models")
    expect(page.get_by_role("heading", name="default · current: version 1")).to_be_visible(timeout=JOB_MS)
    shipped = page.get_by_role("button", name="Make version shipped current", exact=True)
    expect(shipped).to_be_visible()
    assert page.evaluate(CUT_BUTTONS) == [], f"Models at {width}x{height}"
    expect(page.get_by_role("button", name="Make version 1 current")).to_have_count(0)  # it is current
    page.screenshot(path=str(tmp_path / f"models-{width}x{height}.png"))
    shipped.click()
    expect(page.get_by_text("default@shipped is now the current default.")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Make version 1 current", exact=True)).to_be_visible()
    no_exception(page)


def test_evaluate_and_the_train_estimate_are_never_cut(store, app_server, sized, tmp_path, seeded_run):  # noqa: F811
    base = app_server(store)
    for width, height in SIZES:
        page = sized(width, height)
        page.goto(base + f"/Evaluate?model={seeded_run.name}&eval=tiny/test")
        expect(page.get_by_text("leak-free accuracy")).to_be_visible(timeout=JOB_MS)
        expect(page.locator('[data-testid="stMetric"]')).to_have_count(7)
        assert page.evaluate(CUT_FIGURES) == [], f"Evaluate at {width}x{height}"
        page.screenshot(path=str(tmp_path / f"evaluate-{width}x{height}.png"))
        no_exception(page)

        page.goto(base + "/Train")
        estimate = page.locator('[data-testid="stMetric"]').filter(has_text="estimated time")
        expect(estimate).to_be_visible(timeout=JOB_MS)
        epochs = page.get_by_role("spinbutton", name="epochs")  # hours, the longest figure it writes
        epochs.fill("9999")
        epochs.press("Enter")
        expect(estimate).to_contain_text(re.compile(r"about \d+ h \d+ min"), timeout=TIMEOUT_MS)
        estimate.scroll_into_view_if_needed()
        assert page.evaluate(CUT_FIGURES) == [], f"Train at {width}x{height}"
        page.screenshot(path=str(tmp_path / f"train-{width}x{height}.png"))
        no_exception(page)


# Records every moment the page shows a button of a running run (Cancel) beside one of an ended
# run (Resume, Start again). Stale elements of the previous script run count (the user sees them,
# faded); elements the browser keeps hidden do not.
WATCH_CONTROLS = """() => {
    window.bothStates = [];
    const look = () => {
        const names = [...document.querySelectorAll('button')].filter(b => b.checkVisibility())
            .map(b => b.textContent.trim());
        const running = names.filter(n => n.startsWith('Cancel'));
        const ended = names.filter(n => n.startsWith('Resume') || (n.startsWith('Start') && n.endsWith('again')));
        if (running.length && ended.length) window.bothStates.push(running.concat(ended).join(' | '));
    };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def test_a_run_panel_never_shows_the_controls_of_two_states(store, app_server, sized, tmp_path):
    import_dataset([str(dark_images(tmp_path / "src", per_class=12))], "dark", workers=1)
    page = sized(1280, 720)
    page.goto(app_server(store) + "/Train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    # a run that cannot end on its own, started as a user does: it runs until the page cancels it.
    # An idle machine trains this tiny set's 500 epochs in about a minute, and early stopping may
    # end it sooner, so: many more epochs, and no early stopping.
    page.get_by_role("textbox", name="run name").fill("long")
    epochs = page.get_by_role("spinbutton", name="epochs")
    epochs.fill("50000")
    epochs.press("Enter")
    expect(page.get_by_text("50000 epochs")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("stopping and checkpoints").click()
    patience = page.get_by_role("spinbutton", name="early-stopping patience")
    patience.fill("0")
    patience.press("Enter")
    expect(patience).to_have_value("0")
    settled(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("queued: it trains in its own process")).to_be_visible(timeout=TIMEOUT_MS)
    cancel = page.get_by_role("button", name="Cancel long")
    expect(cancel).to_be_visible(timeout=JOB_MS)
    # it trains: an epoch done, whichever it has reached when the page looks
    expect(page.get_by_text(re.compile(r"[1-9]\d* of 50000 epochs done"))).to_be_visible(timeout=JOB_MS)
    page.evaluate(WATCH_CONTROLS)
    cancel.click()
    expect(page.get_by_role("button", name="Resume long")).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_role("button", name="Start long again")).to_be_visible()
    settled(page)
    assert page.evaluate("window.bothStates") == []
    assert [r.state for r in Run.list()] == ["cancelled"]
    cfg = Run.list()[0].config()
    assert (cfg["epochs"], cfg["early_stopping"]["patience"]) == (50000, 0)  # the form's values reached the run
    # the heading counts what is in progress and says the panel below it has ended
    expect(page.get_by_role("heading", name="Runs: 0 in progress, the last 1 ended")).to_be_visible()
    no_exception(page)
    page.screenshot(path=str(tmp_path / "train-cancelled.png"))
