"""The Streamlit server killed with kill -9 (its whole process group) while it trains: the
training (its own process, its own session) goes on, and a new server shows it."""
import os
import re
import signal
import time

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported").expect

TIMEOUT_MS = 60_000


def _wait(cond, timeout=120):
    t = time.time()
    while not cond():
        assert time.time() - t < timeout, "timed out"
        time.sleep(0.3)


def test_a_training_outlives_the_server_killed_with_kill_9(store, app_server, page, screenshot, tmp_path):
    import builders as b
    from fer import jobs
    from fer.data import import_dataset
    from fer.store import Run

    import_dataset([str(b.imagefolder(tmp_path / "src", classes=b.FER_CLASSES, per_class=60))], "tiny", workers=1)
    base = app_server(store)
    page.goto(f"{base}/Train")
    expect(page.get_by_role("button", name="Train")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Train").click()  # the preset for CPUs on the only dataset
    expect(page.get_by_text("queued: it trains in its own process")).to_be_visible(timeout=TIMEOUT_MS)
    run = Run.list()[0]
    _wait(lambda: any(m.get("kind") == "progress" for m in run.metrics()))
    job_pid = run.status()["pid"]
    try:
        server = app_server.procs[-1]
        os.killpg(server.pid, signal.SIGKILL)  # the server and its whole process group, as a terminal's kill does
        server.wait()
        killed, seen = time.monotonic(), len(run.metrics())
        _wait(lambda: len(run.metrics()) > seen + 1)  # it trains on without the server
        print(f"the job wrote on {time.monotonic() - killed:.1f} s after the server was killed")
        assert run.status()["pid"] == job_pid and run.state in ("running", "finished")
        page.goto(f"{app_server(store)}/Train")  # a new server: the run is shown, as it is
        panel = page.get_by_text(run.id)
        expect(panel).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(f"· {run.state}", exact=False).first).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(re.compile(r"\d+ of \d+ epochs done")).first).to_be_visible(timeout=TIMEOUT_MS)
        screenshot("train-after-server-restart")
    finally:
        jobs.cancel(run.folder)
        _wait(lambda: run.state not in jobs.ACTIVE)
