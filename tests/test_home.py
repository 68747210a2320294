"""The Home page with AppTest, on an empty store and on a store with a dataset."""
from streamlit.testing.v1 import AppTest

import builders as b
from builders import REPO

HOME = str(REPO / "Home.py")


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def test_home_on_an_empty_store(store):
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "FER Studio"
    # the shipped model is a model: the default
    assert _metrics(at) == {"Datasets": "0", "Images": "0", "Runs": "0", "Models": "1", "Running jobs": "0"}
    assert "No dataset yet" in at.info[0].value
    assert any("python -m fer dataset import" in c.value for c in at.code)
    settings_table = at.dataframe[-1].value
    assert list(settings_table["setting"]) == ["import roots", "device", "max_jobs", "ice_servers"]
    assert not store.exists()  # looking writes nothing


def test_home_lists_an_imported_dataset(store, tmp_path):
    from fer.data import import_dataset

    import_dataset([str(b.fer2013_folders(tmp_path / "fer"))], "tiny", workers=1)
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert not at.exception
    assert _metrics(at)["Datasets"] == "1" and _metrics(at)["Images"] == "56"
    table = at.dataframe[0].value
    assert table.iloc[0]["name"] == "tiny" and table.iloc[0]["train"] == 28
    assert not at.info


def test_home_shows_broken_settings_instead_of_crashing(store):
    store.mkdir(parents=True)
    (store / "settings.toml").write_text("max_jobs = [")
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert not at.exception
    assert "not valid TOML" in at.error[0].value
