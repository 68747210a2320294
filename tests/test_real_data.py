"""The dataset layer on the real FER2013 files of ../shared/data (skipped without them)."""
import pytest
from streamlit.testing.v1 import AppTest

from fer.data import import_dataset
from builders import REPO

pytestmark = pytest.mark.real_data


def test_mini_zip(store, mini_zip):
    r = import_dataset([str(mini_zip)], "mini")
    df = r.manifest
    assert len(df) == 350
    # README: 40 images a class from train/, 10 from test/ (PublicTest → val, PrivateTest → test)
    per_class = df.assign(part=df["split"].replace({"val": "test"})).groupby(["label_name", "part"]).size()
    assert per_class.unstack().to_dict("list") == {"test": [10] * 7, "train": [40] * 7}
    assert set(df["split"]) == {"train", "val", "test"}
    assert not df[["q_corrupt", "q_low_variance", "q_duplicate", "q_cross_split_duplicate"]].any().any()
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=30).run()
    assert not at.exception and {m.label: m.value for m in at.metric}["Images"] == "350"


README_COUNTS = {  # ../shared/data/README.md: train, PublicTest, PrivateTest
    "angry": (3995, 467, 491), "disgust": (436, 56, 55), "fear": (4097, 496, 528), "happy": (7215, 895, 879),
    "neutral": (4965, 607, 626), "sad": (4830, 653, 594), "surprise": (3171, 415, 416),
}
BLACK = ["test/angry/PublicTest_5543497.jpg"] + [f"train/angry/Training_{i}.jpg" for i in (
    10131352, 28756096, 32571770, 52563817, 78540321, 96772745, 99531165)] + [
    "train/happy/Training_87607167.jpg", "train/neutral/Training_89335926.jpg", "train/sad/Training_48621797.jpg",
    "train/surprise/Training_48403842.jpg"]


def test_full_fer2013(store, fer2013_zip):
    df = import_dataset([str(fer2013_zip)], "fer2013").manifest
    assert len(df) == 35887
    assert df["split"].value_counts().to_dict() == {"train": 28709, "val": 3589, "test": 3589}
    for cls, counts in README_COUNTS.items():
        rows = df[df["label_name"] == cls]
        assert tuple((rows["split"] == s).sum() for s in ("train", "val", "test")) == counts, cls
    black = df[df["path"].isin([f"fer2013:fer2013/{p}" for p in BLACK])]
    assert len(black) == 12 and black["q_low_variance"].all() and (black["std"] == 0).all()
    assert df["dup_group"].nunique() == 1516 and df["dup_group"].notna().sum() == 3369
    assert df["q_duplicate"].sum() == 1853
    spans = df[df["q_cross_split_duplicate"]].groupby("dup_group")["split"].agg(frozenset)
    assert sum("train" in s and bool(s & {"val", "test"}) for s in spans) == 531  # README: in train and test/
    assert len(spans) == 557  # and 26 more between PublicTest (val) and PrivateTest (test) alone
    assert df[df["q_label_conflict"]]["dup_group"].nunique() == 57
    assert not df["q_corrupt"].any()
