"""A model as one zip: exported (weights, model.json, card, the ONNX export when there is one),
imported back as a new version of a name with the same predictions; a tampered zip (a pickle
inside, ``../`` names, no model.json, weights of the wrong shapes, ...) refused with one line,
exit code 2 and nothing changed; the same from the UI helpers."""
import io
import json
import os
import subprocess
import sys
import warnings
import zipfile

import pytest
import torch
from safetensors.torch import save as save_tensors

from fer import cli, models
from fer.labels import CLASSES
from fer.models import model_zip, onnx
from fer.predict import Predictor
from fer.store import Model, layout, resolve_model

from builders import REPO, app_page


def tree(root) -> dict:
    """Every file under the store with its bytes' hash, but the activity log's (it records failed
    actions too): 'nothing changed' is this staying equal."""
    from test_model_versions import tree as without_the_log

    return without_the_log(root) if root.exists() else {}


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def make_zip(path, files: dict[str, bytes] | list[tuple[str, bytes]]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name, on purpose
        for name, data in (files.items() if isinstance(files, dict) else files):
            zf.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def shipped_files() -> dict[str, bytes]:
    """The members of a zip of a real single-network model: the one shipped before the ensemble
    (``default@shipped-1``, a fer_cnn)."""
    folder = layout.EARLIER_SHIPPED / "1"
    return {n: (folder / n).read_bytes() for n in (layout.WEIGHTS, layout.MODEL_META, layout.CARD)}


def astronaut():
    import skimage.data

    return skimage.data.astronaut()


def test_round_trip_export_import_predict_equals_the_original(store, tmp_path):
    out = tmp_path / "default.zip"
    r = subprocess.run([sys.executable, "-m", "fer", "model", "export", "default", "--format", "zip", "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert r.returncode == 0, r.stderr
    # the shipped model's ONNX file goes with it (it ships beside the weights)
    assert sorted(members(out.read_bytes())) == sorted([layout.WEIGHTS, layout.MODEL_META, layout.CARD,
                                                        layout.ONNX_MODEL])
    r = subprocess.run([sys.executable, "-m", "fer", "model", "import", str(out), "--name", "mine"],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("mine@1: imported from default.zip (ensemble")  # the shipped model, three members
    original, imported = resolve_model("default"), resolve_model("mine")
    assert imported.ref == "mine@1" and imported.sha256() == original.sha256()
    assert imported.info()["imported_from"] == "default.zip" and imported.info()["sha256"] == original.sha256()
    assert (imported.folder / layout.CARD).read_bytes() == (original.folder / layout.CARD).read_bytes()
    a, b = Predictor.load("default").predict(astronaut()), Predictor.load("mine").predict(astronaut())
    assert [f.probs for f in a] == [f.probs for f in b] and b[0].label == "happy"
    # a second import adds a version, as a promotion does; the first stays and can be restored
    assert cli.main(["model", "import", str(out), "--name", "mine"]) == 0
    assert [v.version for v in Model.open("mine").versions()] == ["1", "2"] and Model.open("mine").current_id() == "2"
    assert Model.open("mine").restore().version == "1"


def test_the_zip_carries_the_onnx_export_once_there_is_one(store, tmp_path, capsys):
    version = resolve_model("default")
    onnx.cached(version)
    files = members(model_zip.zip_bytes(version))
    assert layout.ONNX_MODEL in files
    runner = onnx.OnnxModel(files[layout.ONNX_MODEL])
    assert (runner.metadata["model_name"], runner.metadata["model_sha256"]) == ("default", version.sha256())
    # imported back: the weights are kept, the foreign ONNX file is not (the app exports its own)
    zip_path = make_zip(tmp_path / "with-onnx.zip", files)
    assert cli.main(["model", "import", str(zip_path), "--name", "again"]) == 0
    assert "was not kept" in capsys.readouterr().err
    assert not (resolve_model("again").folder / layout.ONNX_MODEL).exists()
    assert json.loads(runner.metadata["parity"])["max_abs_diff"] <= 1e-4


def _wrong_shapes() -> bytes:
    """Weights of a 3-channel fer_cnn, for a model.json that says 1 channel."""
    model = models.build({"backbone": "fer_cnn", "channels": 3}, for_training=False)
    return save_tensors({k: v.contiguous() for k, v in model.state_dict().items()})


def _pickled_weights() -> bytes:
    buf = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(7, 256)}, buf)
    return buf.getvalue()


def _meta(files, **change) -> bytes:
    meta = json.loads(files[layout.MODEL_META])
    meta.update(change)
    return json.dumps(meta).encode()


BAD = {
    "a pickle file inside": (lambda f: {**f, "model.pt": _pickled_weights()}, "'model.pt' is a pickle-style file"),
    "a name climbing out": (lambda f: {**f, "../model.json": f[layout.MODEL_META]}, "escapes the archive"),
    "an absolute name": (lambda f: {**f, "/etc/model.json": f[layout.MODEL_META]}, "has an absolute path"),
    "no model.json": (lambda f: {k: v for k, v in f.items() if k != layout.MODEL_META}, "no model.json in the archive"),
    "weights of the wrong shapes": (lambda f: {**f, layout.WEIGHTS: _wrong_shapes()},
                                    "the weights do not fit the fer_cnn that model.json names: size mismatch for"),
    "pickled weights under the safetensors name": (lambda f: {**f, layout.WEIGHTS: _pickled_weights()},
                                                   "is not a readable safetensors file"),
    "another class list": (lambda f: {**f, layout.MODEL_META: _meta(f, classes=list(reversed(CLASSES)))},
                           "classes must be angry, disgust"),
    "an unknown architecture": (lambda f: {**f, layout.MODEL_META: _meta(f, architecture="resnet9000")},
                                "unknown backbone 'resnet9000'"),
    "model.json not JSON": (lambda f: {**f, layout.MODEL_META: b"{architecture: fer_cnn"}, "is not valid JSON"),
    "a normalisation without std": (lambda f: {**f, layout.MODEL_META: _meta(f, normalisation={"mean": [0.5]})},
                                    "normalisation needs a mean and a positive std"),
    "an unexpected member": (lambda f: {**f, "notes.txt": b"hi"}, "unexpected member 'notes.txt'"),
    "a member in a sub-folder": (lambda f: {**f, "m/model.json": f[layout.MODEL_META]},
                                 "unexpected member 'm/model.json'"),
    "a member twice": (lambda f: [*f.items(), (layout.MODEL_META, b"{}")], "'model.json' is in the archive twice"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_tampered_zip_is_refused_with_one_line_and_nothing_changes(store, tmp_path, capsys, shipped_files, case):
    tamper, message = BAD[case]
    path = make_zip(tmp_path / "bad.zip", tamper(dict(shipped_files)))
    before = tree(store)
    assert cli.main(["model", "import", str(path), "--name", "mine"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith("error: bad.zip"), err
    assert tree(store) == before


def test_not_a_zip_an_oversized_member_and_a_bad_name_are_refused(store, tmp_path, capsys, shipped_files, monkeypatch):
    not_zip = tmp_path / "model.zip"
    not_zip.write_bytes(b"PK\x03\x04 but nothing more")
    good = make_zip(tmp_path / "good.zip", shipped_files)
    monkeypatch.setenv("FER_MAX_FILE_MIB", "1")  # the weights (4.5 MiB) are over the archive limit now
    for args, message in [((str(not_zip), "--name", "x"), "model.zip: not a zip archive"),
                          ((str(good), "--name", "x"), "over the 1.0 MiB limit for a file (max_file_mib)"),
                          ((str(good), "--name", "../x"), "invalid name '../x'"),
                          ((str(tmp_path / "absent.zip"), "--name", "x"), "absent.zip: no such file")]:
        assert cli.main(["model", "import", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert tree(store) == {}


def test_members_inside_one_folder_are_accepted(store, tmp_path, shipped_files):
    path = make_zip(tmp_path / "folder.zip", {f"my-model/{k}": v for k, v in shipped_files.items()})
    version, contents = model_zip.import_zip(path, "folder")
    assert version.ref == "folder@1" and contents.sha256 == resolve_model("default@shipped-1").sha256()


def test_the_ui_exports_and_imports(store, shipped_files):
    from streamlit.testing.v1 import AppTest

    script = ("from fer.actions import Actor\nfrom fer.store import resolve_model\n"
              "from fer.ui.model_io import export_buttons, import_form\n"
              "export_buttons(resolve_model('default', allow_paths=False))\nimport_form(Actor.local())\n")
    at = AppTest.from_string(script, default_timeout=300).run()
    assert not at.exception and not at.get("download_button")
    at.button(key="export-onnx-default@shipped").click().run()
    at.button(key="export-zip-default@shipped").click().run()
    assert not at.exception and not at.error
    downloads = at.get("download_button")
    assert len(downloads) == 2 and "max |Δp|" in at.caption[0].value
    # the import form: a good zip becomes a version; a tampered one is refused with its reason
    at.get("file_uploader")[0].upload("good.zip", make_zip(io.BytesIO(), shipped_files).getvalue(), "application/zip")
    at.text_input(key="import-name").set_value("uploaded")
    at.button[-1].click().run()
    assert not at.exception and "uploaded@1: imported from good.zip" in at.success[0].value
    bad = make_zip(io.BytesIO(), {**shipped_files, "evil.pkl": b"\x80\x04."}).getvalue()
    at.get("file_uploader")[0].upload("bad.zip", bad, "application/zip")
    at.text_input(key="import-name").set_value("uploaded")
    at.button[-1].click().run()
    assert "'evil.pkl' is a pickle-style file" in at.error[0].value
    assert [v.version for v in Model.open("uploaded").versions()] == ["1"]


def test_predict_and_live_pages_offer_onnxruntime(store):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / "8_Predict.py"), default_timeout=300).run()
    assert not at.exception
    at.sidebar.radio(key="predict-runtime").set_value("onnxruntime").run()
    assert not at.exception and "on onnxruntime" in at.caption[0].value
    from fer.models import onnx

    # the shipped model's own file answers: nothing exported, no wait
    assert onnx.exported(resolve_model("default")) == layout.SHIPPED / layout.ONNX_MODEL
    assert not layout.onnx_export(resolve_model("default").sha256()).exists()


def test_the_models_tab_exports_the_current_version_and_lists_an_import(store, shipped_files):
    at = app_page("4_Runs", {"view": "Models"}, timeout=300).run()
    assert not at.exception
    at.button(key="export-default-onnx-default@shipped").click().run()
    assert not at.exception and not at.error
    assert [d for d in at.get("download_button") if "default-shipped.onnx" in d.proto.label]
    at.get("file_uploader")[0].upload("good.zip", make_zip(io.BytesIO(), shipped_files).getvalue(), "application/zip")
    at.text_input(key="models-import-name").set_value("uploaded")
    at.button(key="FormSubmitter:models-import-Import").click().run()
    assert not at.exception and "uploaded@1: imported" in at.success[0].value
    assert any(m.value.startswith("### uploaded · current: version 1") for m in at.markdown)  # listed at once
