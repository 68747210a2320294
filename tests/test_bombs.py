"""Decompression bombs: zips and images that inflate far beyond their size are refused or flagged
before they are read whole, in the import (a real process and its pool workers) and the upload.

The bombs are built once per test session by streaming into zipfile (a 2 GiB member of zeros packs
into about 2 MB; a 30,000 x 30,000 PNG of zeros into about 4 MB).
"""
import io
import os
import shutil
import sys
import zipfile

import pytest

from fer import store as fer_store
from fer.data import SourceError, import_dataset, importing, manifest

import builders as b
from builders import REPO

GiB, MiB = 2**30, 2**20
PEAK_LIMIT_KIB = 1024 * 1024  # every process of the import stays under 1 GiB
STORE_GROWTH_LIMIT = 100 * 10**6
ZEROS = "train/happy/zeros.png"


def import_measured(src, name, store, **env):
    """``python -m fer dataset import SRC --name NAME`` in its own process, as a user runs it."""
    env = {**os.environ, "FER_ARTIFACTS": str(store), "PYTHONPATH": str(REPO), **env}
    return b.run_measured([sys.executable, "-m", "fer", "dataset", "import", str(src), "--name", name], env)


@pytest.fixture(scope="session")
def bombs(tmp_path_factory):
    """The two bombs, built once: a zip holding a 2 GiB member of zeros, and a 30,000 x 30,000 PNG."""
    d = tmp_path_factory.mktemp("bombs")
    return {"zeros": b.zip_of_zeros(d / "zeros.zip", ZEROS, 2 * GiB), "png": b.png_of_zeros(30_000)}


def _with_images(src, dest, n=600):
    """A copy of ``src`` with ``n`` small real images added (more than one scan chunk: a pool)."""
    shutil.copyfile(src, dest)
    with zipfile.ZipFile(dest, "a") as zf:
        for i in range(n):
            zf.writestr(f"train/{('happy', 'sad')[i % 2]}/{i}.png", b.image_bytes((24, 24), seed=i))
    return dest


def test_a_2gib_member_of_zeros_is_refused_whole(store, bombs):
    assert os.path.getsize(bombs["zeros"]) < 3 * MiB
    r = import_measured(bombs["zeros"], "zeros", store)
    assert r["rc"] != 0
    reason = r["stderr"].strip().splitlines()[-1]
    assert "zeros.zip: 2.0 GiB unpacked from" in reason and "over the compression ratio limit of x100" in reason
    assert repr(ZEROS) in reason and "the archive is refused" in reason  # the member, its size, the limit
    assert "Traceback" not in r["stderr"]
    assert r["peak_kib"] < PEAK_LIMIT_KIB, f"peak RSS {r['peak_kib'] / 1024:.0f} MiB"
    assert fer_store.disk_usage(store) < STORE_GROWTH_LIMIT
    assert not (store / "datasets" / "zeros").exists()


def test_a_2gib_member_in_an_accepted_zip_is_one_flagged_row(store, bombs, tmp_path):
    """With the archive's ratio limit lifted, the per-member limit alone keeps the import small;
    the bomb is a flagged row, every real image is imported."""
    z = _with_images(bombs["zeros"], tmp_path / "mixed.zip")
    r = import_measured(z, "mixed", store, FER_ZIP_MAX_RATIO="1000000")
    assert r["rc"] == 0, r["stderr"]
    assert r["peak_kib"] < PEAK_LIMIT_KIB, f"peak RSS {r['peak_kib'] / 1024:.0f} MiB"
    assert fer_store.disk_usage(store) < STORE_GROWTH_LIMIT
    df = manifest("mixed").set_index("path")
    assert len(df) == 601
    bomb = df.loc[f"mixed:{ZEROS}"]
    assert bomb["q_corrupt"]
    assert bomb["error"] == (f"zip member {ZEROS!r}: 2.0 GiB unpacked, over the 64.0 MiB limit for an image "
                             "(max_image_mib)")
    assert df["q_corrupt"].sum() == 1 and df.drop(f"mixed:{ZEROS}")["phash"].notna().all()


def test_a_30000_by_30000_png_is_flagged_from_its_header(store, bombs, tmp_path):
    z = tmp_path / "pixels.zip"
    with zipfile.ZipFile(z, "w") as zf:  # stored: only the PNG's own compression
        zf.writestr("train/happy/huge.png", bombs["png"])
        for i in range(4):
            zf.writestr(f"train/sad/{i}.png", b.image_bytes(seed=i))
    assert len(bombs["png"]) < 5 * MiB
    r = import_measured(z, "pixels", store)
    assert r["rc"] == 0, r["stderr"]
    assert r["peak_kib"] < PEAK_LIMIT_KIB, f"peak RSS {r['peak_kib'] / 1024:.0f} MiB"
    assert fer_store.disk_usage(store) < STORE_GROWTH_LIMIT
    row = manifest("pixels").set_index("path").loc["pixels:train/happy/huge.png"]
    assert row["q_corrupt"] and row["error"] == "too large: its header declares over 179 MP, over the 40 MP limit"


def test_a_small_member_that_inflates_too_much_is_flagged(store, tmp_path):
    """10 MiB of zeros under an image's name: under the size limit, over the ratio limit."""
    z = b.zip_folder(b.imagefolder(tmp_path / "ok", classes=("happy", "sad"), per_class=300), tmp_path / "r.zip")
    with zipfile.ZipFile(z, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("happy/zeros.png", bytes(10 * MiB))
    df = import_dataset([str(z)], "r", workers=1).manifest.set_index("path")
    row = df.loc["r:happy/zeros.png"]
    assert row["q_corrupt"] and "10.0 MiB unpacked from" in row["error"]
    assert "over the compression ratio limit of x100 (zip_max_ratio)" in row["error"]
    assert df["q_corrupt"].sum() == 1


def test_an_oversized_image_file_in_a_folder_is_not_read(store, tmp_path):
    src = b.imagefolder(tmp_path / "f", classes=("happy",), per_class=2)
    with open(src / "happy" / "big.png", "wb") as f:
        f.truncate(70 * MiB)  # sparse: 70 MiB that cost nothing to make
    df = import_dataset([str(src)], "f", workers=1).manifest.set_index("path")
    assert df.loc["f:happy/big.png", "error"] == "'happy/big.png': 70.0 MiB, over the 64.0 MiB limit for an image (max_image_mib)"


def test_a_label_list_over_its_limit_refuses_the_import(store, tmp_path, monkeypatch):
    src = b.rafdb(tmp_path / "raf")
    with open(src / "EmoLabel" / "list_patition_label.txt", "ab") as f:
        f.write(b"\n" * (2 * MiB))
    monkeypatch.setenv("FER_MAX_FILE_MIB", "1")
    with pytest.raises(SourceError, match=r"'EmoLabel/list_patition_label.txt': 2.0 MiB, over the 1.0 MiB limit "
                                          r"for a file \(max_file_mib\)"):
        import_dataset([str(src)], "raf", workers=1)
    assert not (store / "datasets" / "raf").exists()


def test_member_count_is_judged_from_the_end_record(store, tmp_path, monkeypatch):
    z = b.zip_folder(b.imagefolder(tmp_path / "m", classes=("happy",), per_class=12), tmp_path / "m.zip")
    monkeypatch.setenv("FER_ZIP_MAX_MEMBERS", "10")
    with pytest.raises(SourceError, match=r"m.zip: 12 members, over the limit of 10 \(zip_max_members\)"):
        import_dataset([str(z)], "m", workers=1)
    monkeypatch.setattr(zipfile.ZipFile, "__init__", lambda *a, **k: pytest.fail("directory parsed"))
    with pytest.raises(SourceError, match="12 members"):
        importing.save_upload("m", "m.zip", z.read_bytes())


def test_a_read_stops_at_its_limit_whatever_the_header_says():
    """The stream cap: a member whose data runs past what its header declares is cut off."""
    from fer.data.archive import Limits, read_capped

    cap = 3 * MiB
    with pytest.raises(SourceError, match="more than 3.0 MiB, over the limit"):
        read_capped(io.BytesIO(bytes(cap + 1)), cap, "zip member 'x.png'", "max_image_mib")
    assert len(read_capped(io.BytesIO(bytes(cap)), cap, "x", "max_image_mib")) == cap
    assert Limits().cap("a/b.JPG") == (64 * MiB, "max_image_mib") and Limits().cap("list.txt")[1] == "max_file_mib"


def test_the_upload_applies_the_same_limits(store, bombs, tmp_path, monkeypatch):
    data = bombs["zeros"].read_bytes()
    with pytest.raises(SourceError, match=rf"zeros.zip: 2.0 GiB unpacked .* largest member '{ZEROS}'"):
        importing.save_upload("up", "zeros.zip", data)
    assert not (store / "datasets").exists()
    # lifted ratio: the upload is kept, and its import flags the member as the import above does
    monkeypatch.setenv("FER_ZIP_MAX_RATIO", "1000000")
    z = _with_images(bombs["zeros"], tmp_path / "up.zip", n=4)
    saved = importing.save_upload("up", "up.zip", z.read_bytes())
    df = import_dataset([str(saved)], "up", workers=1).manifest.set_index("path")
    assert df.loc[f"up:{ZEROS}", "q_corrupt"] and "over the 64.0 MiB limit" in df.loc[f"up:{ZEROS}", "error"]


def test_the_dataset_page_refuses_a_bomb_upload(store, bombs):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / "1_Dataset.py"), default_timeout=60).run()
    at.text_input(key="new-name").set_value("x")
    at.radio[0].set_value("an uploaded zip").run()
    at.get("file_uploader")[0].upload("zeros.zip", bombs["zeros"].read_bytes(), "application/zip")
    at.run()
    at.button(key="add-zip").click().run()
    assert not at.exception
    assert "over the compression ratio limit of x100" in at.error[0].value and ZEROS in at.error[0].value
    assert not (store / "datasets").exists()
