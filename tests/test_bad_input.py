"""Bad files are flagged, bad sources refused with a reason; the rest is imported."""
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer.data import DatasetError, SourceError, import_dataset
from fer.images import ImageError, open_image, to_gray, to_rgb

import builders as b


def _png(arr, mode=None, **save):
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG", **save)
    return buf.getvalue()


def _bad_tree(root):
    """One good image per class folder, then one of each kind of trouble in happy/."""
    good = b.imagefolder(root, classes=("happy", "sad"), per_class=3)
    happy = root / "happy"
    jpeg = b.image_bytes((64, 64), "RGB", "JPEG")
    b.write(happy / "truncated.jpg", jpeg[: len(jpeg) // 2])
    b.write(happy / "empty.jpg", b"")
    b.write(happy / "text.jpg", b"this is not an image\n")
    b.write(happy / "garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    b.write(happy / "deep16.png", _png((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)))
    cmyk = io.BytesIO()
    Image.new("CMYK", (40, 40), (0, 128, 0, 30)).save(cmyk, "JPEG")
    b.write(happy / "cmyk.jpg", cmyk.getvalue())
    pal = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).convert("P")
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    b.write(happy / "palette.png", buf.getvalue())
    rgba = np.random.default_rng(1).integers(0, 255, (40, 40, 4), dtype=np.uint8)
    b.write(happy / "alpha.png", _png(rgba, "RGBA"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (30, 60, 3), dtype=np.uint8)).save(buf, "JPEG", exif=exif)
    b.write(happy / "exif.jpg", buf.getvalue())
    b.write(happy / "notes.txt", b"not an image extension: not a row")
    (root / "empty_class").mkdir()
    (root / "unknown_class").mkdir()
    b.write(root / "unknown_class" / "x.png", b.image_bytes())
    return good


def test_every_bad_file_is_a_flagged_row_and_the_rest_imports(store, tmp_path):
    r = import_dataset([str(_bad_tree(tmp_path / "bad"))], "bad", workers=1)
    df = r.manifest.set_index(r.manifest["path"].str.split("/").str[-1])
    corrupt = df[df["q_corrupt"]]
    assert set(corrupt.index) == {"truncated.jpg", "empty.jpg", "text.jpg", "garbage.png"}
    assert corrupt.loc["empty.jpg", "error"] == "empty file (0 bytes)"
    assert "not an image" in corrupt.loc["text.jpg", "error"]
    assert corrupt["error"].str.len().gt(0).all()
    ok = df[~df["q_corrupt"]]
    assert {"deep16.png", "cmyk.jpg", "palette.png", "alpha.png", "exif.jpg"} <= set(ok.index)
    assert ok["error"].isna().all() and ok["phash"].notna().all()
    assert (ok.loc["exif.jpg", ["width", "height"]].tolist()) == [30, 60]  # EXIF orientation applied
    assert ok.loc["deep16.png", "mode"].startswith("I")
    assert ok.loc["deep16.png", "mean"] > 30  # scaled to 8 bits, not clipped to white or black
    assert r.info["dropped"] == {"unknown_class": 1}
    assert "notes.txt" not in df.index
    # corrupt files form no duplicate group even when their bytes match
    assert df.loc[list(corrupt.index), "dup_group"].isna().all()


def test_pixel_limit_is_checked_before_decoding(store, tmp_path):
    src = b.imagefolder(tmp_path / "big", classes=("happy",), per_class=3)
    Image.new("L", (20000, 20000)).save(src / "happy" / "huge.png")  # over Pillow's own bomb limit too
    Image.new("L", (8000, 6000)).save(src / "happy" / "large.png")  # over ours only
    r = import_dataset([str(src)], "big", workers=1)
    rows = r.manifest.set_index(r.manifest["path"].str.split("/").str[-1])
    assert rows.loc["huge.png", "q_corrupt"] and rows.loc["large.png", "q_corrupt"]
    assert rows.loc["huge.png", "error"] == "too large: its header declares over 179 MP, over the 40 MP limit"
    assert rows.loc["large.png", "error"] == "too large: 8000x6000 = 48.0 MP, over the 40 MP limit"
    for f in ("huge.png", "large.png"):
        with pytest.raises(ImageError, match="over the 40 MP limit"):
            open_image(src / "happy" / f)
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's own check stays on for the rest of the process


def test_zip_with_escaping_names_is_refused_and_nothing_written(store, tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("happy/ok.png", b.image_bytes())
        zf.writestr("../../evil.png", b.image_bytes())
    with pytest.raises(SourceError, match="escapes the archive"):
        import_dataset([str(z)], "evil", workers=1)
    assert not (store / "datasets" / "evil").exists()


def test_a_file_named_zip_that_is_not_one_is_refused(store, tmp_path):
    f = b.write(tmp_path / "fake.zip", b"hello")
    with pytest.raises(SourceError, match="not a zip archive"):
        import_dataset([str(f)], "fake", workers=1)


def test_csv_row_with_bad_pixels_is_flagged(store, tmp_path):
    csv = b.fer2013_csv(tmp_path / "fer2013.csv", rows_per_usage=(2, 1, 1))
    lines = csv.read_text().splitlines()
    lines[1] = "3,1 2 3 banana,Training"
    lines[2] = "3,1 2 3,Training"
    lines.append("9," + " ".join(["5"] * 2304) + ",Training")  # an emotion outside 0-6
    csv.write_text("\n".join(lines) + "\n")
    r = import_dataset([str(csv)], "csv", workers=1)
    df = r.manifest
    assert len(df) == 28
    assert df.loc[0, "q_corrupt"] and "not all values are numbers" in df.loc[0, "error"]
    assert df.loc[1, "q_corrupt"] and "3 values, expected 2304" in df.loc[1, "error"]
    assert df["q_corrupt"].sum() == 2
    assert r.info["dropped"] == {"9": 1}


def test_missing_source_and_no_images_are_refused(store, tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        import_dataset([str(tmp_path / "nowhere")], "x")
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    with pytest.raises(SourceError, match="cannot tell the format"):
        import_dataset([str(tmp_path / "empty")], "x")
    src = b.imagefolder(tmp_path / "odd", classes=("calm",), per_class=2)
    with pytest.raises(DatasetError, match="no labelled image.*calm"):
        import_dataset([f"{src}=imagefolder"], "x")
    assert not (store / "datasets" / "x").exists()


def test_existing_dataset_needs_replace_and_keeps_decisions(store, tmp_path):
    from fer.data import exclusions

    src = b.imagefolder(tmp_path / "s", classes=("happy", "sad"), per_class=3)
    first = import_dataset([str(src)], "d", workers=1)
    exclusions.record("d", [first.manifest["path"].iloc[0]], "exclude", "q_dark")
    with pytest.raises(DatasetError, match="exists already"):
        import_dataset([str(src)], "d", workers=1)
    import_dataset([str(src)], "d", workers=1, replace=True)
    assert exclusions.excluded("d") == {first.manifest["path"].iloc[0]}
    assert not [p for p in (store / "datasets").iterdir() if p.name.startswith(".")]  # no leftovers


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "x" * 65, "sp ace"])
def test_bad_dataset_names(store, tmp_path, name):
    with pytest.raises(ValueError, match="invalid name"):
        import_dataset([str(tmp_path)], name)


def test_modes_convert_uniformly():
    for mode in ("1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"):
        img = Image.new(mode, (8, 6))
        assert to_gray(img).shape == (6, 8) and to_gray(img).dtype == np.uint8
        assert to_rgb(img).shape == (6, 8, 3)


def test_zip_read_in_the_parent_then_by_forked_workers(store, tmp_path):
    """A handle the parent already opened must not be shared with forked workers (a shared file
    offset garbles reads: "Bad CRC-32")."""
    from fer.data.sources import read_member

    root = tmp_path / "many"
    for i in range(1100):
        b.write(root / ("happy" if i % 2 else "sad") / f"{i}.png", b.image_bytes((24, 24), seed=i))
    z = b.zip_folder(root, tmp_path / "many.zip")
    read_member(str(z), "zip", "happy/1.png")  # the parent now holds an open handle
    df = import_dataset([str(z)], "many", workers=2).manifest
    assert len(df) == 1100 and not df["q_corrupt"].any()


def test_a_link_out_of_a_source_folder_is_a_flagged_row_never_read(store, tmp_path):
    from fer.data import info, load_image

    src = b.imagefolder(tmp_path / "s", classes=("happy",), per_class=2)
    secret = b.write(tmp_path / "elsewhere" / "face.png", b.image_bytes(seed=7))
    (src / "happy" / "link.png").symlink_to(secret)
    df = import_dataset([str(src)], "s", workers=1).manifest.set_index("path")
    row = df.loc["s:happy/link.png"]
    assert row["q_corrupt"] and row["error"] == "'happy/link.png' lies outside the source folder"
    assert pd.isna(row["sha1"])  # its bytes were never read
    with pytest.raises(SourceError, match="outside the source folder"):
        load_image(info("s"), "s:happy/link.png")


@pytest.mark.parametrize("name", ["happy/a\nb.png", "happy/\x1b[31mred.png", "happy/tab\t.png"])
def test_names_with_control_characters_are_refused(store, tmp_path, name):
    z = tmp_path / "odd.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("happy/ok.png", b.image_bytes())
        zf.writestr(name, b.image_bytes())
    with pytest.raises(SourceError, match="has a control character in its name"):
        import_dataset([str(z)], "odd", workers=1)
    b.write(tmp_path / "f" / name, b.image_bytes())
    b.write(tmp_path / "f" / "happy" / "ok.png", b.image_bytes())
    with pytest.raises(SourceError, match=r"file .* has a control character in its name; rename it"):
        import_dataset([str(tmp_path / "f")], "odd", workers=1)
    assert not (store / "datasets" / "odd").exists()
