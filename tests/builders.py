"""Small sources in each real layout, generated in a temporary folder.

Every image is distinct random noise (no accidental duplicates); tests plant duplicates and
bad files where they want them.
"""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
_rng = np.random.default_rng(1234)


def image_bytes(size=(48, 48), mode="L", fmt="PNG", seed=None, rng=None) -> bytes:
    rng = rng if rng is not None else np.random.default_rng(seed) if seed is not None else _rng
    w, h = size
    shape = (h, w) if mode == "L" else (h, w, len(mode))
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, fmt)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


FER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def fer2013_folders(root: Path, per_class=(4, 2, 2)) -> Path:
    """``train/<class>/Training_*.jpg`` and ``test/<class>/{PublicTest,PrivateTest}_*.jpg``."""
    n_train, n_pub, n_priv = per_class
    k = 0
    for c in FER_CLASSES:
        for prefix, folder, n in (("Training", "train", n_train), ("PublicTest", "test", n_pub),
                                  ("PrivateTest", "test", n_priv)):
            for _ in range(n):
                k += 1
                write(root / folder / c / f"{prefix}_{1000 + k}.jpg", image_bytes(fmt="JPEG"))
    return root


def fer2013_csv(path: Path, rows_per_usage=(4, 2, 2)) -> Path:
    lines = ["emotion,pixels,Usage"]
    for usage, n in zip(("Training", "PublicTest", "PrivateTest"), rows_per_usage):
        for e in range(7):
            for _ in range(n):
                lines.append(f"{e},{' '.join(map(str, _rng.integers(0, 256, 2304)))},{usage}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


RAF_NAMES = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}


def rafdb(root: Path, per_class=(4, 2), aligned=True) -> Path:
    lines, k = [], 0
    for split, n in zip(("train", "test"), per_class):
        for code in RAF_NAMES:
            for _ in range(n):
                k += 1
                name = f"{split}_{k:05d}.jpg"
                lines.append(f"{name} {code}")
                if aligned:
                    write(root / "Image" / "aligned" / f"{split}_{k:05d}_aligned.jpg", image_bytes((100, 100), "RGB", "JPEG"))
                else:
                    write(root / "Image" / "original" / name, image_bytes((120, 90), "RGB", "JPEG"))
    write(root / "EmoLabel" / "list_patition_label.txt", ("\n".join(lines) + "\n").encode())
    return root


AFFECTNET_NAMES = ["Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]


def affectnet_yolo(root: Path, per_class=3) -> Path:
    write(root / "data.yaml", ("nc: 8\nnames: [" + ", ".join(f"'{n}'" for n in AFFECTNET_NAMES) + "]\n").encode())
    k = 0
    for split, n in (("train", per_class), ("valid", 1), ("test", 1)):
        for cls in range(len(AFFECTNET_NAMES)):
            for _ in range(n):
                k += 1
                write(root / split / "images" / f"img{k}.jpg", image_bytes((96, 96), "RGB", "JPEG"))
                # a small second box of another class: the largest box decides
                write(root / split / "labels" / f"img{k}.txt",
                      f"{cls} 0.5 0.5 0.8 0.8\n{(cls + 1) % 8} 0.1 0.1 0.1 0.1\n".encode())
    return root


KDEF_CODES = ("AF", "AN", "DI", "HA", "NE", "SA", "SU")


def kdef(root: Path, subjects=10, poses=("S", "HL", "HR", "FL", "FR")) -> Path:
    for i in range(1, subjects + 1):
        gender = "F" if i % 2 else "M"
        for session in "AB":
            folder = f"{session}{gender}{i:02d}"
            for code in KDEF_CODES:
                for pose in poses:
                    write(root / folder / f"{folder}{code}{pose}.JPG", image_bytes((64, 80), "RGB", "JPEG"))
    return root


CK_FOLDERS = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")


def ckplus(root: Path, subjects=12, per_subject=2) -> Path:
    for s in range(subjects):
        for c in CK_FOLDERS:
            for j in range(per_subject):
                write(root / c / f"S{100 + s:03d}_{j + 1:03d}_{10 + j:08d}.png", image_bytes((48, 48)))
    return root


JAFFE_CODES = ("AN", "DI", "FE", "HA", "NE", "SA", "SU")
JAFFE_SUBJECTS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")


def jaffe(root: Path, per_code=2) -> Path:
    k = 0
    for subj in JAFFE_SUBJECTS:
        for code in JAFFE_CODES:
            for j in range(per_code):
                k += 1
                write(root / f"{subj}.{code}{j + 1}.{k}.tiff", image_bytes((64, 64), fmt="TIFF"))
    return root


def imagefolder(root: Path, classes=("joy", "sad", "calm"), per_class=5, splits=None, seed=None) -> Path:
    """Class folders of random images; with ``seed``, the same images whatever ran before (the
    shared generator's draws depend on the tests that ran earlier in the session)."""
    rng = np.random.default_rng(seed) if seed is not None else _rng
    for c in classes:
        for split in splits or [None]:
            for j in range(per_class):
                folder = root / split / c if split else root / c
                write(folder / f"img_{j}.png", image_bytes((64, 64), "RGB", rng=rng))
    return root


def zip_folder(folder: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(folder).as_posix())
    return dest


def app_page(page: str, params: dict | None = None, timeout: float = 120):
    """AppTest of ``pages/<page>.py`` opened as the app opens it (Home as the entry point, so that
    links between pages resolve), with these query parameters; not yet run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=timeout)
    at.switch_page(f"pages/{page}.py")
    at.query_params.update(params or {})
    return at


def untrained_model(folder: Path, channels: int = 1, size: int = 48, face: dict | None = None) -> Path:
    """A model folder holding an untrained fer_cnn: the pipeline end to end, not the accuracy."""
    from fer import models
    from fer.labels import CLASSES

    m = models.build({"backbone": "fer_cnn", "channels": channels, "dropout": 0.0}).eval()
    models.save(folder, m, {
        "architecture": "fer_cnn", "classes": list(CLASSES), "input_size": size, "channels": channels,
        "normalisation": {"mean": [0.5] * channels, "std": [0.25] * channels},
        "face": face or {"detector": "mtcnn", "align": True, "margin": 0.3, "size": size, "grayscale": channels == 1}})
    return folder


# -- hostile inputs -----------------------------------------------------------------------------

def zip_of_zeros(path: Path, member: str, size: int) -> Path:
    """A zip holding one member of ``size`` zero bytes, streamed in (2 GiB packs into ~2 MB)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(member, "w", force_zip64=True) as f:
            block = bytes(2**20)
            for _ in range(size // len(block)):
                f.write(block)
            f.write(bytes(size % len(block)))
    return path


def png_of_zeros(side: int) -> bytes:
    """A valid grayscale PNG of ``side`` x ``side`` black pixels, compressed row by row
    (30,000 x 30,000: about 4 MB that would decode to 900 MB)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    z = zlib.compressobj(1)
    row = bytes(side + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# Runs a command and reports the peak resident memory of the largest process below it (a command
# and its pool workers: RUSAGE_CHILDREN covers every descendant that was waited for).
_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr, "seconds": time.perf_counter() - t,
                  "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_measured(cmd: list[str], env: dict, timeout: float = 300) -> dict:
    """``cmd`` in a fresh process: its return code, output, seconds and peak RSS (KiB)."""
    p = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return json.loads(p.stdout)
