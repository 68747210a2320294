import numpy as np
import pandas as pd
import pytest

from fer.data import exclusions, import_dataset, manifest, near_pairs
from fer.data.quality import Thresholds, apply, near_pairs as find_pairs
from fer.data.scan import phash

import builders as b


def test_near_pairs_equal_brute_force():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 50, dtype=np.uint64)
    # plant neighbours at known distances by flipping bits
    near = []
    for i, h in enumerate(base[:20]):
        flips = rng.choice(64, size=i % 9, replace=False)
        near.append(h ^ np.uint64(sum(1 << int(f) for f in flips)))
    hashes = pd.Series(pd.array(list(map(int, np.r_[base, near])) + [None], dtype="UInt64"))
    got = find_pairs(hashes, 8)
    h = hashes[:-1].to_numpy(np.uint64)
    brute = {(i, j, int(bin(int(h[i] ^ h[j])).count("1"))) for i in range(len(h)) for j in range(i + 1, len(h))
             if bin(int(h[i] ^ h[j])).count("1") <= 8}
    assert set(zip(got["a"], got["b"], got["distance"].astype(int))) == brute
    assert len(brute) >= 20


def test_phash_sees_copies_not_strangers():
    import cv2

    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 256, (8, 8), dtype=np.uint8), (64, 64), interpolation=cv2.INTER_CUBIC)
    noisy = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    other = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    d = lambda a, c: bin(phash(a) ^ phash(c)).count("1")  # noqa: E731
    assert d(img, noisy) <= 4 and d(img, other) > 10


def _planted(tmp_path):
    """FER2013 folders with a copy across train/test, a copy with another label, a near copy,
    a black, a dark, a bright and a tiny image."""
    root = b.fer2013_folders(tmp_path / "fer", per_class=(4, 1, 1))
    a = (root / "train/happy").iterdir().__next__().read_bytes()
    b.write(root / "test/happy/PrivateTest_9001.jpg", a)  # same label, across splits
    b.write(root / "train/sad/Training_9002.jpg", a)  # other label, same split
    import cv2

    face = cv2.resize(np.random.default_rng(5).integers(40, 220, (6, 6), dtype=np.uint8), (48, 48),
                      interpolation=cv2.INTER_CUBIC)
    import io
    from PIL import Image

    def jpg(arr, q=95):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=q)
        return buf.getvalue()

    b.write(root / "train/fear/Training_9003.jpg", jpg(face, 95))
    b.write(root / "train/fear/Training_9004.jpg", jpg(face, 60))  # re-encoded: near, not exact
    b.write(root / "train/angry/Training_9005.jpg", jpg(np.zeros((48, 48), np.uint8)))
    b.write(root / "train/angry/Training_9006.jpg", jpg(face // 6))
    b.write(root / "train/angry/Training_9007.jpg", jpg(255 - face // 5))
    b.write(root / "train/angry/Training_9008.jpg", jpg(np.random.default_rng(0).integers(0, 255, (20, 30)).astype(np.uint8)))
    return root


def test_every_check_on_planted_problems(store, tmp_path):
    df = import_dataset([str(_planted(tmp_path))], "p", workers=1).manifest
    by = df.set_index(df["path"].str.split("/").str[-1])
    group = by.loc["Training_9002.jpg", "dup_group"]
    members = by[by["dup_group"] == group]
    assert len(members) == 3
    # the first by train < val < test, then path, is kept; the rest are duplicates
    kept = members[~members["q_duplicate"]]
    assert len(kept) == 1 and kept["split"].iloc[0] == "train"
    assert members["q_cross_split_duplicate"].all() and members["q_label_conflict"].all()
    assert by.loc["Training_9003.jpg", "near_dup_group"] == by.loc["Training_9004.jpg", "near_dup_group"]
    assert pd.isna(by.loc["Training_9004.jpg", "dup_group"])
    assert by["q_near_duplicate"].sum() >= 1 + 2  # the near copy, and the exact copies
    assert by.loc["Training_9005.jpg", "q_low_variance"] and by.loc["Training_9005.jpg", "q_dark"]
    assert by.loc["Training_9006.jpg", "q_dark"] and not by.loc["Training_9006.jpg", "q_low_variance"]
    assert by.loc["Training_9007.jpg", "q_bright"]
    assert by.loc["Training_9008.jpg", "q_tiny"]
    assert by[["q_dark", "q_bright", "q_tiny", "q_low_variance"]].sum().sum() == 5  # nothing else flagged


def test_thresholds_reflag_from_stored_pairs_without_rescan(store, tmp_path):
    import_dataset([str(_planted(tmp_path))], "p", workers=1)
    df, pairs = manifest("p"), near_pairs("p")
    loose = apply(df, pairs, Thresholds(near_duplicate_distance=8, dark_mean=200))
    strict = apply(df, pairs, Thresholds(near_duplicate_distance=0, dark_mean=0))
    assert loose["q_near_duplicate"].sum() >= df["q_near_duplicate"].sum() >= strict["q_near_duplicate"].sum()
    assert strict["q_near_duplicate"].sum() == strict["q_duplicate"].sum()  # distance 0: the exact copies
    assert loose["q_dark"].sum() > df["q_dark"].sum() > strict["q_dark"].sum() == 0


def test_thresholds_are_configurable_and_recorded(store, tmp_path):
    r = import_dataset([str(_planted(tmp_path))], "p", workers=1, thresholds=Thresholds(tiny_side=10, dark_mean=1))
    assert r.info["thresholds"]["tiny_side"] == 10 and r.info["thresholds"]["low_variance_std"] == 5.0
    assert not r.manifest["q_tiny"].any()


def test_exclusions_decide_training_rows_and_undo_restores(store, tmp_path):
    """Decisions decide the training rows; undoing one action returns each image it decided to what
    it was before (kept stays kept, undecided is undecided again), except an image decided since."""
    import_dataset([str(_planted(tmp_path))], "p", workers=1)
    df = manifest("p")
    paths = df["path"].tolist()[:5]
    assert len(exclusions.usable(df, "p")) == len(df)  # flags alone exclude nothing
    exclusions.record("p", paths[:1], "keep", "q_dark", action="A")
    exclusions.record("p", paths, "exclude", "q_dark", action="B")  # a bulk exclusion
    assert set(df["path"]) - set(exclusions.usable(df, "p")["path"]) == set(paths)
    exclusions.record("p", paths[1:2], "keep", "", action="C")  # decided again since
    assert exclusions.revert("p", "B", action="U") == (4, 1)
    assert exclusions.latest("p") == {paths[0]: "keep", paths[1]: "keep"}  # the others: undecided again
    assert set(df["path"]) - set(exclusions.usable(df, "p")["path"]) == set()
    log = exclusions.read("p")
    assert list(log.columns) == ["path", "decision", "check", "time", "action"]
    assert log["action"].tolist() == ["A"] + ["B"] * 5 + ["C"] + ["U"] * 4
    assert sorted(log["decision"].tolist()[-4:]) == ["clear"] * 3 + ["keep"]
    assert exclusions.revert("p", "B", action="V") == (0, 5)  # undone already: every image changed since
    assert manifest("p").equals(df)  # decisions never touch the manifest
    with pytest.raises(ValueError, match="decision"):
        exclusions.record("p", paths, "delete")


def test_corrupt_rows_never_train(store, tmp_path):
    src = b.imagefolder(tmp_path / "s", classes=("happy",), per_class=3)
    b.write(src / "happy" / "bad.jpg", b"nope")
    df = import_dataset([str(src)], "s", workers=1).manifest
    assert len(exclusions.usable(df, "s")) == 3
