"""Every source format, auto-detected and named, in folders and zips."""
import pytest

from fer.data import FORMATS, SourceError, detect, import_dataset
from fer.data.sources import SourceFiles
from fer.labels import LabelMapper

import builders as b


def _import(store, *sources, name="ds", **kw):
    return import_dataset([str(s) for s in sources], name, workers=1, **kw)


@pytest.mark.parametrize("fmt,build", [
    ("fer2013-folders", lambda p: b.fer2013_folders(p / "fer")),
    ("fer2013-csv", lambda p: b.fer2013_csv(p / "fer2013.csv")),
    ("rafdb", lambda p: b.rafdb(p / "raf")),
    ("affectnet-yolo", lambda p: b.affectnet_yolo(p / "affectnet")),
    ("kdef", lambda p: b.kdef(p / "KDEF")),
    ("ckplus", lambda p: b.ckplus(p / "ck")),
    ("jaffe", lambda p: b.jaffe(p / "jaffe")),
    ("imagefolder", lambda p: b.imagefolder(p / "mine", classes=("happy", "sad", "angry"))),
])
def test_detect(tmp_path, fmt, build):
    assert detect(SourceFiles(build(tmp_path))) == fmt


def test_unknown_layout_is_refused_with_the_formats_named(tmp_path):
    b.write(tmp_path / "x" / "a" / "pic.png", b.image_bytes())
    with pytest.raises(SourceError, match="SRC=FORMAT.*imagefolder"):
        detect(SourceFiles(tmp_path / "x"))


def test_fer2013_folders_official_splits(store, tmp_path):
    r = _import(store, b.fer2013_folders(tmp_path / "fer"))
    df = r.manifest
    assert len(df) == 7 * 8
    assert df["split"].value_counts().to_dict() == {"train": 28, "val": 14, "test": 14}
    assert set(df["split_origin"]) == {"official"}
    assert df[df["path"].str.contains("PublicTest")]["split"].eq("val").all()
    assert df[df["path"].str.contains("PrivateTest")]["split"].eq("test").all()
    assert (df["label_name"] == df["path"].str.split("/").str[-2]).all()
    assert r.info["crop"] == {"ready_made": True, "detector": "mtcnn", "align": True, "margin": -0.04, "size": 48,
                              "grayscale": True}


def test_fer2013_csv_rows_and_usage(store, tmp_path):
    r = _import(store, b.fer2013_csv(tmp_path / "fer2013.csv"))
    df = r.manifest
    assert len(df) == 56 and df["split"].value_counts().to_dict() == {"train": 28, "val": 14, "test": 14}
    assert (df["width"] == 48).all() and (df["mode"] == "L").all()
    assert df["path"].iloc[0] == "fer2013:fer2013.csv#0"
    assert sorted(df["label"].unique()) == list(range(7))


def test_rafdb_ids_aligned_images_and_carved_val(store, tmp_path):
    r = _import(store, b.rafdb(tmp_path / "raf"))
    df = r.manifest
    assert len(df) == 7 * 6
    assert df["path"].str.contains("_aligned.jpg").all()
    first = df[df["path"].str.contains("train_00001_")].iloc[0]
    assert first["label_name"] == "surprise" and first["raw_label"] == "1"  # RAF-DB id 1
    # train/test official, val carved from train
    assert set(df[df["split"] == "test"]["split_origin"]) == {"official"}
    assert set(df[df["split"] == "val"]["split_origin"]) == {"carved"}
    assert (df["split"] == "val").sum() == 7  # one per class: a small class still reaches val


def test_affectnet_yolo_largest_box_and_contempt_dropped(store, tmp_path):
    r = _import(store, b.affectnet_yolo(tmp_path / "affectnet"))
    df = r.manifest
    # 8 classes x 5 images, contempt's 5 dropped
    assert len(df) == 35
    assert r.info["dropped"] == {"Contempt": 5}
    assert set(df["raw_label"]) == set(b.AFFECTNET_NAMES) - {"Contempt"}
    assert df["split"].value_counts().to_dict() == {"train": 21, "val": 7, "test": 7}
    assert (df["split_origin"] == "official").all()


def test_kdef_poses_subjects_and_seeded_split(store, tmp_path):
    r = _import(store, b.kdef(tmp_path / "KDEF", subjects=10))
    df = r.manifest
    assert len(df) == 10 * 2 * 7 * 3  # poses S, HL, HR kept
    assert r.info["dropped"] == {"(pose FL)": 140, "(pose FR)": 140}
    assert set(df["subject"]) == {f"F{i:02d}" for i in range(1, 11, 2)} | {f"M{i:02d}" for i in range(2, 11, 2)}
    assert (df["split_origin"] == "seeded").all()
    _one_split_per_subject(df)


def test_ckplus_subjects_and_contempt(store, tmp_path):
    r = _import(store, b.ckplus(tmp_path / "ck", subjects=12))
    df = r.manifest
    assert r.info["dropped"] == {"contempt": 24}
    assert r.info["crop"]["ready_made"] and r.info["crop"]["size"] == 48  # CK+48: 48×48 crops
    assert df["subject"].str.match(r"^S\d{3}$").all()
    _one_split_per_subject(df)


def test_jaffe_codes_and_subjects(store, tmp_path):
    r = _import(store, b.jaffe(tmp_path / "jaffe"))
    df = r.manifest
    assert len(df) == 10 * 7 * 2
    assert set(df["subject"]) == set(b.JAFFE_SUBJECTS)
    assert df.loc[df["path"].str.contains(r"\.FE1\."), "label_name"].eq("fear").all()
    _one_split_per_subject(df)


def test_imagefolder_user_mapping_and_dropped(store, tmp_path):
    src = b.imagefolder(tmp_path / "mine", classes=("joy", "sad", "calm", "0"), per_class=5)
    r = _import(store, src, mapping=["joy=happy", "0=angry"])
    df = r.manifest
    assert df["label_name"].value_counts().to_dict() == {"happy": 5, "sad": 5, "angry": 5}
    assert r.info["dropped"] == {"calm": 5}
    assert r.info["label_map"] == {"joy": "happy", "0": "angry"}


def test_imagefolder_split_folders(store, tmp_path):
    src = b.imagefolder(tmp_path / "mine", classes=("happy", "sad"), per_class=3, splits=("train", "valid", "test"))
    df = _import(store, src).manifest
    assert df["split"].value_counts().to_dict() == {"train": 6, "val": 6, "test": 6}


def test_zip_source_matches_folder(store, tmp_path):
    folder = b.fer2013_folders(tmp_path / "fer")
    z = b.zip_folder(folder, tmp_path / "fer.zip", prefix="fer2013/")
    a = _import(store, folder, name="a").manifest
    c = _import(store, z, name="c").manifest
    assert len(a) == len(c)
    assert sorted(a["sha1"]) == sorted(c["sha1"])
    assert c["path"].str.startswith("fer:fer2013/").all()


def test_named_format_overrides_detection(store, tmp_path):
    folder = b.fer2013_folders(tmp_path / "fer")
    df = _import(store, f"{folder}=imagefolder").manifest
    # as a plain class-per-folder tree, test/ is test: no PublicTest → val, so val is carved
    assert set(df[df["path"].str.contains("PublicTest")]["split"]) == {"test"}


def test_several_sources_merge_into_one_dataset(store, tmp_path):
    r = _import(store, b.rafdb(tmp_path / "raf"), b.kdef(tmp_path / "KDEF", subjects=6),
                b.affectnet_yolo(tmp_path / "affectnet"))
    df = r.manifest
    assert set(df["source"]) == {"raf", "KDEF", "affectnet"}
    assert {s["format"] for s in r.info["sources"].values()} == {"rafdb", "kdef", "affectnet-yolo"}
    for src, rows in df.groupby("source"):
        assert set(rows["split"]) == {"train", "val", "test"}, src
    assert r.info["crop"] is None  # not ready-made crops: faces still to align


def test_every_path_resolves_back_to_its_image(store, tmp_path):
    from fer.data import info, load_image

    for fmt_src in (b.fer2013_csv(tmp_path / "f.csv"), b.zip_folder(b.jaffe(tmp_path / "j"), tmp_path / "j.zip")):
        name = fmt_src.stem.replace(".", "-")
        df = _import(store, fmt_src, name=name).manifest
        d = info(name)
        for _, row in df.sample(5, random_state=0).iterrows():
            img = load_image(d, row["path"])
            assert img.size == (row["width"], row["height"])


def _one_split_per_subject(df):
    per_subject = df.groupby("subject")["split"].nunique()
    assert (per_subject == 1).all(), per_subject[per_subject > 1]
    assert set(df["split"]) == {"train", "val", "test"}


def test_formats_registry_lists_every_documented_format():
    assert set(FORMATS) == {"fer2013-folders", "fer2013-csv", "rafdb", "affectnet-yolo", "kdef", "ckplus", "jaffe",
                            "imagefolder"}


def test_mapper_is_shared_by_detection(tmp_path):
    src = b.imagefolder(tmp_path / "digits", classes=("0", "1"), per_class=2)
    with pytest.raises(SourceError):
        detect(SourceFiles(src))
    assert detect(SourceFiles(src), LabelMapper(user={"0": 0, "1": 1})) == "imagefolder"
