import numpy as np
import pandas as pd

from fer.data import splits


def _frame(n_subjects=30, per_subject=14, sources=("a",), subjects=True, official=None):
    rows = []
    for src in sources:
        for s in range(n_subjects):
            for k in range(per_subject):
                rows.append({"source": src, "label": (k + s) % 7, "subject": f"{src}{s}" if subjects else None,
                             "split": official})
    df = pd.DataFrame(rows)
    df["split"] = df["split"].astype(object)
    return df


def test_seeded_split_is_80_10_10_stratified_and_reproducible():
    df = _frame(subjects=False, n_subjects=100)
    a = splits.assign(df, seed=3)
    assert (a["split_origin"] == "seeded").all()
    share = a["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.8) < 0.01 and abs(share["val"] - 0.1) < 0.01
    for _, part in a.groupby("split"):
        # each class keeps its share of the whole (7 equal classes)
        assert part["label"].value_counts(normalize=True).sub(1 / 7).abs().max() < 0.02
    assert a["split"].tolist() == splits.assign(df, seed=3)["split"].tolist()
    assert a["split"].tolist() != splits.assign(df, seed=4)["split"].tolist()


def test_grouped_carving_never_splits_a_subject_and_keeps_proportions():
    df = _frame(n_subjects=60)
    a = splits.assign(df, seed=0)
    assert (a.groupby("subject")["split"].nunique() == 1).all()
    share = a["split"].value_counts(normalize=True)
    assert 0.7 < share["train"] < 0.9 and 0.05 < share["val"] < 0.15 and 0.05 < share["test"] < 0.15
    for _, part in a.groupby("split"):
        assert part["label"].value_counts(normalize=True).sub(1 / 7).abs().max() < 0.05


def test_missing_val_is_carved_from_train_only():
    df = _frame(subjects=False, n_subjects=50)
    df["split"] = np.where(np.arange(len(df)) % 5 == 0, "test", "train").astype(object)
    a = splits.assign(df)
    test_before = df["split"] == "test"
    assert (a.loc[test_before, "split"] == "test").all()
    assert (a.loc[test_before, "split_origin"] == "official").all()
    carved = a["split_origin"] == "carved"
    assert (a.loc[carved, "split"] == "val").all() and carved.sum() > 0
    assert (df.loc[carved, "split"] == "train").all()


def test_each_source_is_split_on_its_own():
    """Each source gets its own stratified 80/10/10: every class of every source sends exactly its
    rounded tenth to val and to test (a split over the sources together would not), and a source
    added after the others changes nothing of theirs."""
    both = _frame(sources=("a", "b"), subjects=False, n_subjects=20)  # 40 images a class in each source
    both = pd.concat([both[both["source"] == "a"], both[both["source"] == "b"].iloc[:140]])  # b: 20 a class
    a = splits.assign(both)
    for (source, label), part in a.groupby(["source", "label"]):
        counts = part["split"].value_counts()
        tenth = round(len(part) * 0.1)
        assert (counts.get("val", 0), counts.get("test", 0)) == (tenth, tenth), (source, label, dict(counts))
    more = pd.concat([both, _frame(sources=("c",), subjects=False, n_subjects=5)], ignore_index=True)
    assert splits.assign(more)["split"].tolist()[:len(both)] == a["split"].tolist()
