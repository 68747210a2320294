"""Browser tests: the real app under `streamlit run`, driven by Debian's Chromium through Playwright.

Chromium comes from `apt-get install -y chromium` (never `playwright install`); without it, or
without the playwright package, every test here is skipped with the reason.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_S = 60


def find_chromium() -> str | None:
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as e:
        return f"playwright cannot be imported ({e}); pip install -r requirements.txt"
    if find_chromium() is None:
        return "Chromium not found (no `chromium` on PATH, no /usr/bin/chromium); apt-get install -y chromium"
    return None


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    reason = skip_reason()
    for item in items:
        if here in item.path.parents:  # this hook sees the whole session's items
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:  # refused while starting; URLError and timeouts are OSErrors
        return False


@pytest.fixture
def app_server(tmp_path):
    """Factory: `app_server(store_dir)` starts the app on that store and returns its base URL
    (`address`: what it listens on; `env`: more environment; `args`: more `streamlit run` options).
    Every server started is stopped (its whole process group) at teardown."""
    procs = []

    def start(store_dir, address="127.0.0.1", env=None, args=()) -> str:
        port = _free_port()
        env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "HF_HUB_OFFLINE": "1",
               "FER_ARTIFACTS": str(store_dir), **(env or {})}
        log = tmp_path / f"streamlit-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
                 "--server.port", str(port), "--server.address", address,
                 # No reloads needed, and watching the repo (with .venv) overflows inotify.
                 "--server.fileWatcherType", "none", *args],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, so teardown can kill it all
            )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        t0, deadline = time.monotonic(), time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(f"{base}/_stcore/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {proc.returncode}" if proc.poll() is not None else "not healthy"
                pytest.fail(f"streamlit {state} after {time.monotonic() - t0:.0f}s; log:\n{log.read_text()}")
            time.sleep(0.2)
        print(f"streamlit up at {base} in {time.monotonic() - t0:.1f}s (log {log})")
        return base

    start.procs = procs  # the servers' processes, newest last (a test may kill one itself)
    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def pw():
    """One Playwright for the session (a second sync_playwright in the same thread is refused)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(pw):
    b = pw.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
    yield b
    b.close()


def _save_screenshot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


@pytest.fixture
def page(browser, tmp_path):
    """A fresh page (own context) per test; its last state is saved as a screenshot, pass or fail.
    Streamlit scrolls inside its own container, so `full_page` cannot see below the viewport: a tall
    viewport keeps the whole Home page in the screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    p = context.new_page()
    yield p
    try:
        _save_screenshot(p, tmp_path, "final")
    finally:
        context.close()


@pytest.fixture
def screenshot(page, tmp_path):
    """`screenshot(name)` saves the page now as <tmp_path>/<name>.png and prints the path."""
    return lambda name: _save_screenshot(page, tmp_path, name)
