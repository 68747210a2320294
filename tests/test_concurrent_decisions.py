"""Keep / exclude decisions taken at once from two processes or two browser sessions (threads of
one server) are all kept; a torn last line loses nothing after it."""
import os
import subprocess
import sys
import threading

import pytest

from fer.data import exclusions

from builders import REPO

N = 500  # decisions per writer, one record() call each, as clicks are

WRITER = """
import os, sys, time
from fer.data import exclusions
tag, go = sys.argv[1], sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.001)
for i in range({n}):
    exclusions.record("d", [f"src:{{tag}}/{{i}}.png"], "exclude" if i % 2 else "keep", "q_dark")
""".format(n=N)


def _expected(tags):
    return {f"src:{t}/{i}.png" for t in tags for i in range(N)}


def test_two_processes_writing_at_once_keep_every_decision(store, tmp_path):
    go = tmp_path / "go"
    env = {**os.environ, "FER_ARTIFACTS": str(store), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, tag, str(go)], env=env, cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    go.touch()  # both start together
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    df = exclusions.read("d")
    assert len(df) == 2 * N
    assert set(df["path"]) == _expected("ab")
    assert sum(d == "exclude" for d in exclusions.latest("d").values()) == N


def test_two_threads_writing_at_once_keep_every_decision(store):
    start = threading.Barrier(2)
    errors = []

    def click(tag):
        try:
            start.wait()
            for i in range(N):
                exclusions.record("d", [f"src:{tag}/{i}.png"], "exclude", "q_dark")
        except BaseException as e:  # surfaced below: a thread's exception would vanish
            errors.append(e)

    threads = [threading.Thread(target=click, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(exclusions.read("d")) == 2 * N
    assert exclusions.excluded("d") == _expected("ab")


@pytest.mark.parametrize("torn", ['src:a,"b.png,excl', "src:c.png,exclu", "src:d.png,exclude,q_da"])
def test_a_torn_last_line_loses_neither_the_next_append_nor_the_readers(store, torn):
    exclusions.record("d", ["src:x.png"], "exclude", "q_dark")
    f = store / "datasets" / "d" / "exclusions.csv"
    with open(f, "ab") as fh:  # a writer killed mid-append
        fh.write(torn.encode())
    assert exclusions.latest("d") == {"src:x.png": "exclude"}  # the reader skips the torn line
    exclusions.record("d", ['src:y,"quoted".png', "src:z.png"], "exclude", "q_dark", action="Y")
    exclusions.record("d", ["src:x.png"], "keep", action="K")
    assert exclusions.revert("d", "K") == (1, 0)
    assert exclusions.latest("d") == {"src:x.png": "exclude", 'src:y,"quoted".png': "exclude", "src:z.png": "exclude"}
    assert f.read_text().count("\n") == 7  # header, x, torn (now ended), y, z, x kept, x undone


def test_paths_with_line_breaks_are_refused_not_torn(store):
    with pytest.raises(ValueError, match="line break"):
        exclusions.record("d", ["src:a\nb.png"], "exclude")
    assert exclusions.read("d").empty


def test_a_writer_waits_while_another_holds_the_lock(store):
    """The lock is what orders appends on filesystems where appends are not atomic (and the
    torn-line check with them): a second writer waits for the holder."""
    from filelock import FileLock

    exclusions.record("d", ["src:a.png"], "exclude")
    held = FileLock(store / "datasets" / "d" / "exclusions.csv.lock")
    with held:
        writer = threading.Thread(target=exclusions.record, args=("d", ["src:b.png"], "keep"))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and "src:b.png" not in exclusions.latest("d")
    writer.join(30)
    assert exclusions.latest("d") == {"src:a.png": "exclude", "src:b.png": "keep"}
