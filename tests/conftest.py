"""Shared fixtures: an isolated store per test, real data when ../shared is there."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))  # pages and AppTest scripts import fer from the repo root
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty store of this test's own ($FER_ARTIFACTS)."""
    root = tmp_path / "store"
    monkeypatch.setenv("FER_ARTIFACTS", str(root))
    for var in ("FER_IMPORT_ROOTS", "FER_DEVICE", "FER_MAX_JOBS", "FER_ICE_SERVERS", "FER_MAX_IMAGE_MIB",
                "FER_MAX_FILE_MIB", "FER_ZIP_MAX_MEMBERS", "FER_ZIP_MAX_RATIO", "FER_VIDEO_MAX_MIB",
                "FER_VIDEO_MAX_SECONDS", "FER_VIDEO_MAX_FRAMES", "FER_JOBS_BACKEND", "FER_RAY_ADDRESS",
                "FER_STUDY_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    return root


@pytest.fixture(autouse=True)
def local_server(monkeypatch):
    """Every test starts as the shipped config runs the app: on localhost, no sign-in set up
    (tests/test_access.py changes both), whatever the caller's folder or environment."""
    from streamlit import config

    for var in ("FER_ADMIN_PASSWORD", "FER_ADMINS", "FER_REQUIRE_SIGN_IN"):
        monkeypatch.delenv(var, raising=False)
    before = config.get_option("server.address")
    config.set_option("server.address", "localhost")
    yield
    config.set_option("server.address", before)


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the real test data sits in ../shared/data beside the checkout)")
    return path


@pytest.fixture
def mini_zip():
    return shared_file("fer2013-mini.zip")


@pytest.fixture
def fer2013_zip():
    return shared_file("fer2013.zip")
