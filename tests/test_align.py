"""Aligning a whole dataset: one memory-mapped array, boxes beside it, q_no_face, settings."""
import io
import json
import os
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer.data import import_dataset, info, manifest
from fer.data.align import align_dataset, describe, face_block, load_faces

import builders as b
from builders import REPO

from skimage import data as skdata  # a requirement: imported, never skipped


def _faces_tree(root):
    a = skdata.astronaut()
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()
    for k, angle in enumerate((0, 12, -18)):
        m = cv2.getRotationMatrix2D((256, 256), angle, 1.0)
        Image.fromarray(cv2.warpAffine(a, m, (512, 512))).save(root / "happy" / f"astro{k}.jpg")
    Image.fromarray(a[::2, ::2]).save(root / "sad" / "small.png")
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(root / "sad" / "wall.png")
    b.write(root / "sad" / "broken.jpg", b"not a jpeg")
    return root


def test_align_a_dataset(store, tmp_path):
    import_dataset([str(_faces_tree(tmp_path / "src"))], "faces", workers=1)
    before = manifest("faces")
    done = align_dataset("faces", size=96)
    df = manifest("faces")
    assert df.drop(columns="q_no_face").equals(before.drop(columns="q_no_face"))  # only q_no_face changed
    by = df.set_index(df["path"].str.split("/").str[-1])
    assert by["q_no_face"].to_dict() == {"astro0.jpg": False, "astro1.jpg": False, "astro2.jpg": False,
                                         "small.png": False, "wall.png": True, "broken.jpg": False}
    arr = load_faces("faces")
    assert arr.shape == (6, 96, 96, 3) and arr.dtype == np.uint8 and isinstance(arr, np.memmap)
    assert arr[list(by.index).index("broken.jpg")].max() == 0  # corrupt: skipped
    assert arr[list(by.index).index("wall.png")].std() < 1  # the centre crop of a plain wall
    boxes = pd.read_parquet(store / "datasets" / "faces" / "faces.parquet")
    assert boxes["found"].sum() == 4 and boxes.loc[boxes["found"], "left_eye_x"].notna().all()
    d = info("faces")
    assert d["crop"] == face_block("mtcnn", 0.3, 96, False)
    assert d["faces"]["found"] == 4 and d["faces"]["no_face"] == 1 and d["faces"]["skipped_corrupt"] == 1
    assert done["crop"] == d["crop"]
    # the three astronauts come out alike whatever their tilt
    crops = arr[[list(by.index).index(f"astro{k}.jpg") for k in range(3)]].astype(np.float32)
    assert np.abs(crops[1] - crops[0]).mean() < 25 and np.abs(crops[2] - crops[0]).mean() < 25


def test_haar_and_grayscale(store, tmp_path):
    import_dataset([str(_faces_tree(tmp_path / "src"))], "faces", workers=1)
    align_dataset("faces", size=64, detector="haar", grayscale=True)
    assert load_faces("faces").shape == (6, 64, 64, 1)
    d = info("faces")
    assert d["crop"]["detector"] == "haar" and d["crop"]["grayscale"]


def test_ready_made_crops_are_resized_not_detected(store, tmp_path, monkeypatch):
    import fer.faces

    monkeypatch.setattr(fer.faces, "detect_batch", lambda *a, **k: pytest.fail("no detection for ready-made crops"))
    import_dataset([str(b.fer2013_folders(tmp_path / "fer"))], "fer", workers=1)
    done = align_dataset("fer")
    arr = load_faces("fer")
    assert arr.shape == (56, 48, 48, 1) and not done["detected"]
    df = manifest("fer")
    first = np.asarray(Image.open(tmp_path / "fer" / df["path"].iat[0].split(":", 1)[1]))
    assert np.array_equal(arr[0, :, :, 0], first)
    assert info("fer")["crop"]["margin"] == -0.04 and not df["q_no_face"].any()


def test_bad_settings_are_refused(store, tmp_path):
    import_dataset([str(b.fer2013_folders(tmp_path / "fer"))], "fer", workers=1)
    with pytest.raises(ValueError, match="detector"):
        align_dataset("fer", detector="dlib")
    with pytest.raises(ValueError, match="face size"):
        align_dataset("fer", size=4000)


def test_cli_import_with_align(store, tmp_path):
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    src = _faces_tree(tmp_path / "src")
    p = subprocess.run([sys.executable, "-m", "fer", "dataset", "import", str(src), "--name", "f", "--align",
                        "--size", "64"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "faces: 4 aligned, 1 without a face" in p.stdout and "no_face: 1" in p.stdout
    assert json.loads((store / "datasets" / "f" / "dataset.json").read_text())["crop"]["size"] == 64
    p = subprocess.run([sys.executable, "-m", "fer", "dataset", "align", "missing"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.strip() == f"error: no dataset named 'missing' in {store / 'datasets'}"


def test_crops_among_photos_are_resized_not_detected_nor_flagged(store, tmp_path, monkeypatch):
    """A FER2013 source beside a folder of photos: the 48 px crops never reach the detector (which
    finds no face in them) and are never q_no_face; the photos are detected as before."""
    import fer.faces

    seen = []
    real = fer.faces.detect_batch
    monkeypatch.setattr(fer.faces, "detect_batch", lambda images, *a, **k: seen.extend(images) or real(images, *a, **k))
    fer = b.fer2013_folders(tmp_path / "fer", per_class=(1, 1, 1))
    photos = _faces_tree(tmp_path / "photos")
    import_dataset([str(fer), f"{photos}=imagefolder"], "mixed", workers=1)
    df = manifest("mixed")
    from fer.data.align import crop_rows

    crops = crop_rows(info("mixed"), df)
    assert crops.sum() == 21 and set(df.loc[crops, "source"]) == {"fer"}
    done = align_dataset("mixed", size=64)
    assert len(seen) == 5 and all(min(im.shape[:2]) > 64 for im in seen)  # the photos, not the crops
    df = manifest("mixed")
    assert not df.loc[crops, "q_no_face"].any()
    assert df.loc[~crops, "q_no_face"].sum() == 1  # the plain wall, as before
    assert done["detected"] and done["crops"] == 21 and "21 ready-made crops resized" in describe(done)


def test_small_square_images_are_taken_for_crops(store, tmp_path, monkeypatch):
    import fer.faces

    monkeypatch.setattr(fer.faces, "detect_batch", lambda *a, **k: pytest.fail("no detection for face crops"))
    root = tmp_path / "crops"
    for cls in ("happy", "sad"):
        for i in range(3):
            b.write(root / cls / f"{i}.png", b.image_bytes((48, 48)))
    import_dataset([str(root)], "plain", workers=1)
    assert info("plain").get("crop") is None  # not declared by the format: recognised by size
    done = align_dataset("plain")
    assert not done["detected"] and load_faces("plain").shape == (6, 48, 48, 1)
    assert not manifest("plain")["q_no_face"].any()
    assert info("plain")["crop"] == {"ready_made": True, **face_block("mtcnn", 0.0, 48, True)}


def test_the_preview_keeps_a_crop_whole(store, mini_zip):
    """FER2013 crops: the preview shows the crop as training uses it (not a shrunken face inside a
    black margin) and does not call it faceless."""
    from fer.data.align import crop_rows, preview
    from fer.images import fit_square

    import_dataset([str(mini_zip)], "mini", workers=1)
    df, d = manifest("mini"), info("mini")
    assert crop_rows(d, df).all()
    for path in df["path"].iloc[:20]:
        p = preview(d, path, crop=True)
        member = path.partition(":")[2]
        original = np.asarray(Image.open(io.BytesIO(zipfile.ZipFile(mini_zip).read(member))).convert("RGB"))
        assert p["faces"] == [] and p["how"].startswith("a face crop already (48×48)")
        assert np.array_equal(p["aligned"], fit_square(original, 112, 3))
