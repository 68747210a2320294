import pytest
from streamlit.testing.v1 import AppTest

from fer import settings

from builders import REPO

PAGE = str(REPO / "pages" / "10_Settings.py")


def test_defaults_on_an_empty_store(store):
    s = settings.load()
    assert s.device == "auto" and s.max_jobs == 1 and s.ice_servers == []
    assert s.import_roots == [str(store / "imports")]  # the store's own import folder, nothing else
    assert set(s.origin.values()) == {"default"}
    assert not store.exists()  # reading settings writes nothing


def test_file_then_environment(store, monkeypatch):
    s = settings.load()
    s.max_jobs, s.device = 3, "cpu"
    s.ice_servers = [{"urls": ["stun:stun.example.org:3478"]}]
    settings.save(s)
    again = settings.load()
    assert (again.max_jobs, again.device, again.ice_servers) == (3, "cpu", s.ice_servers)
    assert again.origin["max_jobs"] == "settings.toml"
    monkeypatch.setenv("FER_MAX_JOBS", "5")
    monkeypatch.setenv("FER_IMPORT_ROOTS", "/data:/mnt/sets")
    monkeypatch.setenv("FER_ICE_SERVERS", '[{"urls": "turn:turn.example.org", "username": "u", "credential": "p"}]')
    env = settings.load()
    assert env.max_jobs == 5 and env.origin["max_jobs"] == "FER_MAX_JOBS"
    assert env.import_roots == ["/data", "/mnt/sets"]
    assert env.ice_servers[0]["username"] == "u"


@pytest.mark.parametrize("text,match", [
    ("max_jobs = 0", "max_jobs"), ("device = 'tpu'", "device"), ("max_jobs = [", "not valid TOML"),
    ("ice_servers = [{host = 'x'}]", "urls"),
])
def test_bad_settings_name_the_problem(store, text, match):
    store.mkdir(parents=True)
    (store / "settings.toml").write_text(text)
    with pytest.raises(ValueError, match=match):
        settings.load()


def test_import_roots_contain(store, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path / "data"))
    (tmp_path / "data" / "x").mkdir(parents=True)
    assert settings.within_import_roots(tmp_path / "data" / "x")
    assert not settings.within_import_roots(tmp_path / "elsewhere")
    assert not settings.within_import_roots(tmp_path / "data" / ".." / "elsewhere")


def test_decompression_limits_from_file_and_environment(store, monkeypatch):
    from fer.data.archive import Limits

    assert Limits.current() == Limits()  # the settings' defaults
    store.mkdir(parents=True)
    (store / "settings.toml").write_text("max_image_mib = 8\nzip_max_ratio = 20")
    monkeypatch.setenv("FER_ZIP_MAX_MEMBERS", "1000")
    s = settings.load()
    assert (s.max_image_mib, s.zip_max_ratio, s.zip_max_members, s.max_file_mib) == (8, 20, 1000, 512)
    assert s.origin["max_image_mib"] == "settings.toml" and s.origin["zip_max_members"] == "FER_ZIP_MAX_MEMBERS"
    assert Limits.current() == Limits(image_bytes=8 * 2**20, members=1000, ratio=20.0)


@pytest.mark.parametrize("var,value,match", [("FER_ZIP_MAX_RATIO", "lots", "FER_ZIP_MAX_RATIO='lots': use a number"),
                                             ("FER_MAX_IMAGE_MIB", "0", "max_image_mib 0: use a number above 0"),
                                             ("FER_MAX_FILE_MIB", "-5", "max_file_mib -5")])
def test_bad_limits_name_the_problem(store, monkeypatch, var, value, match):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=match):
        settings.load()


def test_settings_page_saves_refuses_and_says_what_the_environment_overrides(store, monkeypatch):
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception and not at.warning
    at.number_input[0].set_value(3)
    at.text_area[1].set_value("not json")
    at.button[0].click().run()
    assert "Not saved" in at.error[0].value and not store.exists()  # nothing written
    at.text_area[1].set_value('[{"urls": ["stun:stun.example.org:3478"]}]')
    at.number_input[1].set_value(8)  # the largest image, MiB
    at.button[0].click().run()
    assert "Saved to" in at.success[0].value
    s = settings.load()
    assert s.max_jobs == 3 and s.ice_servers == [{"urls": ["stun:stun.example.org:3478"]}] and s.max_image_mib == 8
    monkeypatch.setenv("FER_MAX_JOBS", "7")
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert "max_jobs (FER_MAX_JOBS)" in at.warning[0].value
    (store / "settings.toml").write_text("max_jobs = [")
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception and "not valid TOML" in at.error[0].value


def test_the_dataset_page_no_longer_holds_the_settings(store, tmp_path):
    import builders as b
    from fer.data import import_dataset

    import_dataset([str(b.fer2013_folders(tmp_path / "fer"))], "tiny", workers=1)
    at = AppTest.from_file(str(REPO / "pages" / "1_Dataset.py"), default_timeout=60).run()
    assert not at.exception and not [f for f in at.get("form")]
    assert any("(/Settings)" in m.value for m in at.markdown)
