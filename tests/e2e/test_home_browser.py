"""Home page in a real browser, on an empty store and on a store with one tiny dataset."""
import numpy as np
import pytest
from PIL import Image

# At module level, a missing playwright must skip (with the reason), not break collection.
expect = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported; "
                             "pip install -r requirements.txt").expect

TIMEOUT_MS = 30_000  # the first script run imports pandas and fer, which takes a few seconds


def wait_for_home(page, base_url):
    page.goto(base_url)
    expect(page.get_by_role("heading", name="FER Studio")).to_be_visible(timeout=TIMEOUT_MS)
    # "Next step" is the page's last section: once it is shown the whole script has run.
    expect(page.get_by_text("Next step")).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0


def metric(page, label):
    return page.locator('[data-testid="stMetric"]').filter(has_text=label)


def test_home_empty_store(store, app_server, page, screenshot):
    wait_for_home(page, app_server(store))
    expect(page.get_by_text("No dataset yet", exact=False)).to_be_visible()
    expect(metric(page, "Datasets").locator('[data-testid="stMetricValue"]')).to_have_text("0")
    screenshot("home-empty")


def test_home_with_one_dataset(store, app_server, page, screenshot, tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("happy", "sad", "angry"):
        folder = tmp_path / "src" / "train" / cls
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8), "L").save(folder / f"a{i}.png")
    from fer.data import import_dataset  # the store fixture has pointed FER_ARTIFACTS at `store`

    import_dataset([str(tmp_path / "src")], "tiny")

    wait_for_home(page, app_server(store))
    # The datasets table is a canvas grid (its cells are not DOM text): check the metrics instead.
    expect(metric(page, "Datasets").locator('[data-testid="stMetricValue"]')).to_have_text("1")
    expect(metric(page, "Images").locator('[data-testid="stMetricValue"]')).to_have_text("9")
    expect(page.get_by_text("No dataset yet", exact=False)).to_have_count(0)
    screenshot("home-one-dataset")
