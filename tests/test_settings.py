import pytest

from fer import settings


def test_defaults_on_an_empty_store(store):
    s = settings.load()
    assert s.device == "auto" and s.max_jobs == 1 and s.ice_servers == []
    assert str(store) in s.import_roots
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
