"""ONNX export and onnxruntime inference: probabilities within 1e-4 of PyTorch (random images, the
astronaut's face, FER2013 PrivateTest faces), a dynamic batch, the preprocessing and the model's
identity in the metadata, every backbone and an ensemble, the store's cache keyed by the weights'
sha256, the Predictor and ``python -m fer predict --runtime onnx``."""
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn

from fer import cli, models
from fer.labels import CLASSES
from fer.models import onnx
from fer.predict import Predictor
from fer.store import layout, resolve_model

from builders import REPO, untrained_model


def astronaut_png(tmp_path):
    import skimage.data
    from PIL import Image

    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def astronaut_image():
    import skimage.data

    return skimage.data.astronaut()


def meta_of(folder) -> dict:
    return json.loads((folder / layout.MODEL_META).read_text())


def test_the_shipped_model_exports_with_its_preprocessing_and_identity(store):
    version = resolve_model("default")
    data, parity = onnx.onnx_bytes(version)
    assert parity["max_abs_diff"] <= 1e-4 and parity["random_batch"] <= 1e-4 and parity["astronaut_face"] <= 1e-4
    runner = onnx.OnnxModel(data)
    md = runner.metadata
    meta = version.meta()
    assert (md["input_size"], md["channels"]) == ("48", "1")
    assert json.loads(md["normalisation"]) == {"mean": [0.5], "std": [0.25]}
    assert json.loads(md["classes"]) == list(CLASSES)
    assert md["output"].startswith("probabilities") and md["architecture"] == meta["architecture"] == "ensemble"
    assert (md["model_name"], md["model_version"], md["model_sha256"]) == ("default", "shipped", version.sha256())
    assert json.loads(md["tta"]) == {"flip": True}  # the Predictor's own augmentation, said for users of the file
    assert json.loads(md["temperature"]) == meta["calibration"]["temperature"]
    assert json.loads(md["face"]) == meta["face"] and json.loads(md["parity"])["max_abs_diff"] == parity["max_abs_diff"]
    # the batch dimension is dynamic, and the graph gives probabilities
    dim = runner.session.get_inputs()[0].shape[0]
    assert isinstance(dim, str)
    model, _ = models.load(version.folder)
    for n in (1, 3, 17):
        x = torch.randn(n, 1, 48, 48)
        p = runner(x.numpy())
        with torch.inference_mode():
            ref = torch.softmax(model(x), 1).numpy()
        assert p.shape == (n, 7) and np.allclose(p.sum(1), 1, atol=1e-5) and np.abs(p - ref).max() <= 1e-4
    # it came from the file shipped beside the weights: nothing was exported into the store
    assert not layout.onnx_export(version.sha256()).exists()
    assert sorted(p.name for p in layout.SHIPPED.iterdir()) == sorted(
        (layout.WEIGHTS, layout.MODEL_META, layout.CARD, layout.ONNX_MODEL))


def test_the_check_against_pytorch_refuses_an_export_and_writes_nothing(store, monkeypatch, tmp_path):
    monkeypatch.setattr(onnx, "TOLERANCE", -1.0)  # no export can pass: the check must refuse it
    version = resolve_model("default@shipped-1")  # (the default's own export ships beside it)
    with pytest.raises(onnx.OnnxError, match="onnxruntime and PyTorch disagree"):
        onnx.cached(version)
    assert not layout.onnx_export(version.sha256()).exists()


@pytest.mark.real_data
def test_parity_on_fer2013_private_test_faces(store, fer2013_zip):
    """Real faces as the model sees them: FER2013 PrivateTest images, normalised as model.json says."""
    from PIL import Image

    path = fer2013_zip
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if "PrivateTest" in n)[:256]
        faces = np.stack([np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("L")) for n in names])[..., None]
    version = resolve_model("default")
    model, meta = models.load(version.folder)
    mean, std = models.norm_tensors(meta)
    x = models.to_input(torch.from_numpy(faces), mean, std, channels_last=False)
    diffs = onnx.compare(onnx.session(version).runner, model, {"private_test": x})
    assert len(faces) == 256 and diffs["private_test"] <= 1e-4


class Ensemble(nn.Module):
    """Several networks of different kinds, their probabilities averaged, log-probabilities out:
    what an ensemble model gives (no single timm classifier anywhere)."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        probs = torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(0)
        return torch.log(probs)


def test_an_ensemble_exports_as_one_graph_of_averaged_probabilities(store):
    torch.manual_seed(0)
    members = [models.build({"backbone": "fer_cnn", "channels": 1}, for_training=False),
               models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.1}, for_training=False)]
    for m in members:  # untrained batch norms would make every face look alike
        for bn in m.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 2.0)
    ensemble = Ensemble(members).eval()
    meta = {"architecture": "ensemble", "classes": list(CLASSES), "input_size": 48, "channels": 1,
            "normalisation": {"mean": [0.5], "std": [0.25]}, "face": {"detector": "haar", "align": False}}
    data, parity = onnx.export_model(ensemble, meta, {"name": "team", "version": "1", "sha256": "0" * 64})
    assert parity["max_abs_diff"] <= 1e-4
    x = torch.randn(5, 1, 48, 48)
    with torch.inference_mode():
        averaged = torch.stack([torch.softmax(m(x), 1) for m in members]).mean(0).numpy()
    assert np.abs(onnx.OnnxModel(data)(x.numpy()) - averaged).max() <= 1e-5


def test_weights_float16_holds_exactly_are_stored_as_float16_and_give_the_same_numbers(store, tmp_path):
    from onnx import TensorProto

    version = served_model(tmp_path / "m", flip=False, temperature=1.0)
    net, meta = models.load(version.folder)
    full, _ = onnx.export_model(net, meta, version.identity())
    with torch.no_grad():  # the weights as a float16 file holds them
        for p in net.parameters():
            p.copy_(p.half().float())
    half, parity = onnx.export_model(net, meta, version.identity())
    assert parity["max_abs_diff"] <= 1e-4
    assert len(half) < 0.6 * len(full)
    import onnx as onnx_lib

    kinds = {i.name: i.data_type for i in onnx_lib.load_from_string(half).graph.initializer}
    assert any(t == TensorProto.FLOAT16 for t in kinds.values())
    assert all(t != TensorProto.FLOAT16 for t in
               (i.data_type for i in onnx_lib.load_from_string(full).graph.initializer))  # not exact: left alone
    x = torch.randn(4, 1, 48, 48)
    with torch.inference_mode():
        want = torch.softmax(net(x), 1).numpy()
    assert np.abs(onnx.OnnxModel(half)(x.numpy()) - want).max() <= 1e-5


BACKBONES = [("fer_cnn", 3, 48), ("resnet18", 3, 64), ("mobilenetv3_small_050", 3, 64), ("convnext_atto", 3, 64),
             ("vit_tiny_patch16_224", 3, 224), ("facenet_vggface2", 3, 160)]


@pytest.mark.parametrize("backbone,channels,size", BACKBONES, ids=[b[0] for b in BACKBONES])
def test_every_backbone_exports_within_the_tolerance(store, tmp_path, monkeypatch, backbone, channels, size):
    monkeypatch.setattr(onnx, "SPEED_BATCH", 4)  # the parity is under test here, not the speed (12 s of 24 at 160 px)
    torch.manual_seed(0)
    model = models.build({"backbone": backbone, "channels": channels, "pretrained": False}, for_training=False)
    folder = tmp_path / backbone
    models.save(folder, model, {"architecture": backbone, "classes": list(CLASSES), "input_size": size,
                                "channels": channels, "normalisation": {"mean": [0.5] * 3, "std": [0.25] * 3},
                                "face": {"detector": "haar", "align": False, "margin": 0.2}})
    version = resolve_model(str(folder))
    path = onnx.cached(version)
    md = onnx.OnnxModel(path).metadata
    assert json.loads(md["parity"])["max_abs_diff"] <= 1e-4
    assert (md["architecture"], md["input_size"], md["channels"]) == (backbone, str(size), "3")


def test_the_predictor_on_onnxruntime_gives_pytorchs_results(store, tmp_path, monkeypatch):
    import skimage.data

    torch_p = Predictor.load("default")
    onnx_p = Predictor.load("default", runtime="onnx")
    assert onnx_p.runtime == "onnx" and "onnxruntime" in onnx_p.label and onnx_p.identity() == torch_p.identity()
    a, b = torch_p.predict(skimage.data.astronaut()), onnx_p.predict(skimage.data.astronaut())
    assert len(a) == len(b) == 1 and a[0].label == b[0].label == "happy"
    assert max(abs(a[0].probs[c] - b[0].probs[c]) for c in CLASSES) <= 1e-4
    crops = [np.random.default_rng(1).integers(0, 256, (60, 60), dtype=np.uint8) for _ in range(70)]
    assert np.abs(onnx_p.classify(crops) - torch_p.classify(crops)).max() <= 1e-4  # two batches of 64 and 6
    # in the PyTorch network's place, with flip test-time augmentation as fer.models.predict applies it
    faces = np.stack([c[:48, :48, None] for c in crops])
    with_flip = [models.predict(p.model, faces, p.mean, p.std, torch.device("cpu"), flip=True) for p in (onnx_p, torch_p)]
    assert with_flip[0].shape == (70, 7) and np.abs(with_flip[0] - with_flip[1]).max() <= 1e-4
    # made once: a second load reads the store's export and exports nothing
    monkeypatch.setattr(onnx, "export_model", lambda *a, **k: pytest.fail("exported again"))
    Predictor.load("default", runtime="onnx")
    with pytest.raises(ValueError, match="runtime 'tf'"):
        Predictor.load("default", runtime="tf")


def test_a_stale_or_torn_export_in_the_cache_is_made_again(store, tmp_path):
    version = resolve_model(str(untrained_model(tmp_path / "m")))
    path = layout.onnx_export(version.sha256())
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an onnx file")  # torn
    assert Predictor.load(version, runtime="onnx").model.metadata["model_sha256"] == version.sha256()
    # model.json now says another normalisation: the cached export no longer fits and is made again
    meta = meta_of(version.folder)
    meta["normalisation"] = {"mean": [0.4], "std": [0.3]}
    (version.folder / layout.MODEL_META).write_text(json.dumps(meta))
    assert json.loads(Predictor.load(version, runtime="onnx").model.metadata["normalisation"])["mean"] == [0.4]


def run_cli(*args):
    """``python -m fer ARGS`` in its own process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "fer", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)


def test_predict_on_the_command_line_with_onnxruntime(store, tmp_path, capsys):
    photo = astronaut_png(tmp_path)
    r = run_cli("predict", str(photo), "--json", "--runtime", "onnx")
    assert r.returncode == 0, r.stderr
    assert "on onnxruntime" in r.stderr
    faces = json.loads(r.stdout.splitlines()[0])["faces"]
    expected = Predictor.load("default").predict(astronaut_image())
    assert len(faces) == 1 and faces[0]["label"] == expected[0].label == "happy"
    assert max(abs(faces[0]["probs"][c] - expected[0].probs[c]) for c in CLASSES) <= 1e-4 + 5e-5  # JSON: 4 decimals
    with pytest.raises(SystemExit) as bad:
        cli.main(["predict", str(photo), "--runtime", "tensorflow"])
    assert bad.value.code == 2 and "invalid choice: 'tensorflow'" in capsys.readouterr().err


def test_export_onnx_on_the_command_line(store, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "default.onnx"
    r = run_cli("model", "export", "default", "--format", "onnx", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "max |Δp|" in r.stdout and f"wrote {out}" in r.stderr
    assert onnx.OnnxModel(out).metadata["model_version"] == "shipped"
    for args, message in [(("nope", "--out", str(out.parent / "x.onnx")), "no model 'nope'"),
                          (("default", "--out", str(out.parent / "x.txt")), "name an .onnx or .zip file"),
                          (("default", "--format", "onnx", "--out", str(out.parent / "x.zip")), "written to a .onnx file"),
                          (("default", "--out", str(tmp_path / "no" / "x.onnx")), "no folder")]:
        assert cli.main(["model", "export", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in out.parent.iterdir()) == ["default.onnx"]


def served_model(folder, flip=True, temperature=0.7, weights_of=None):
    """A small model whose model.json asks for flip TTA and a temperature (the weights of the
    model folder ``weights_of``, else new ones)."""
    if weights_of is None:  # random weights large enough that the classes differ from face to face
        untrained_model(folder)
        net, meta = models.load(folder)
        net.train()
        with torch.no_grad():
            for _ in range(5):  # batch-norm statistics of images, not of nothing
                net(torch.randn(16, 1, 48, 48))
            net.fc.weight.mul_(20)
        models.save(folder, net.eval(), meta)
    else:
        __import__("shutil").copytree(weights_of, folder)
    meta = meta_of(folder)
    meta["tta"], meta["calibration"] = {"flip": flip}, {"method": "temperature scaling", "temperature": temperature}
    (folder / layout.MODEL_META).write_text(json.dumps(meta))
    return resolve_model(str(folder))


def test_flip_and_temperature_apply_alike_on_both_runtimes(store, tmp_path):
    version = served_model(tmp_path / "m")
    import skimage.data

    camera = skimage.data.camera()  # patches of a photo, each unlike its mirror image
    crops = [camera[y:y + 96, x:x + 96] for y in (40, 200, 350) for x in (30, 220, 400)]
    on_torch, on_onnx = (Predictor.load(version, runtime=rt).classify(crops) for rt in ("torch", "onnx"))
    assert np.abs(on_torch - on_onnx).max() <= 1e-5
    # both apply them: the same network without either gives other probabilities, the same classes
    plain = Predictor.load(served_model(tmp_path / "plain", False, 1.0, weights_of=tmp_path / "m"), runtime="onnx")
    flipped = Predictor.load(served_model(tmp_path / "flip", True, 1.0, weights_of=tmp_path / "m"), runtime="onnx")
    p_plain, p_flip = plain.classify(crops), flipped.classify(crops)
    assert np.abs(p_flip - p_plain).max() > 1e-3
    from fer.evaluation import temperature

    assert np.allclose(on_onnx, temperature.scaled(p_flip, 0.7), atol=1e-5)  # the temperature, after the flip
    assert (on_onnx.argmax(1) == p_flip.argmax(1)).all()


def test_auto_takes_onnxruntime_where_its_export_measured_it_faster(store, tmp_path, monkeypatch):
    version = resolve_model(str(untrained_model(tmp_path / "m")))
    p = Predictor.load(version, runtime="auto")  # nothing exported yet: PyTorch, and no export made now
    assert (p.runtime, p.runtime_why) == ("torch", "not exported for onnxruntime yet")
    assert not layout.onnx_export(version.sha256()).exists()
    assert onnx.export_soon(version)  # what the app does then, in the background
    for t in __import__("threading").enumerate():
        if t.name.startswith("onnx-export-"):
            t.join(timeout=300)
    figures = onnx.measured_speed(version)
    assert set(figures) >= {"face", "batch"} and figures["face"]["onnx"] > 0 and figures["onnx_threads"] == 1
    for faster, want in (({"onnx": 1.0, "torch": 2.0}, "onnx"), ({"onnx": 3.0, "torch": 2.0}, "torch")):
        monkeypatch.setattr(onnx, "measured_speed", lambda v, f=faster: {"face": f, "batch": f})
        p = Predictor.load(version, runtime="auto")
        assert p.runtime == want and p.runtime_why.startswith("measured faster")
    assert onnx.fastest(version, "cuda")[0] == "torch"
    # the library's default stays PyTorch: code that reads .model gets the network
    assert isinstance(Predictor.load(version).model, nn.Module)


def test_a_failed_export_leaves_the_app_on_pytorch(store, tmp_path, monkeypatch):
    version = resolve_model(str(untrained_model(tmp_path / "m")))
    monkeypatch.setattr(onnx, "_failed", {})
    monkeypatch.setattr(onnx, "export_model", lambda *a, **k: (_ for _ in ()).throw(onnx.OnnxError("disagree")))
    assert onnx.export_soon(version)
    for t in __import__("threading").enumerate():
        if t.name.startswith("onnx-export-"):
            t.join(timeout=300)
    p = Predictor.load(version, runtime="auto", export_later=True)
    assert p.runtime == "torch" and p.runtime_why == "its ONNX export failed (disagree)"
    assert not onnx.export_soon(version)  # not tried again in this process


def test_the_shipped_model_needs_no_export(store, monkeypatch):
    monkeypatch.setattr(onnx, "export_model", lambda *a, **k: pytest.fail("exported"))
    version = resolve_model("default")
    assert onnx.exported(version) == layout.SHIPPED / layout.ONNX_MODEL
    p = Predictor.load("default", runtime="auto")
    assert p.runtime == "onnx" and p.runtime_why.startswith("measured faster")
    assert not (store / "exports").exists()  # nothing written into the store
    assert (layout.SHIPPED / layout.ONNX_MODEL).stat().st_size + (layout.SHIPPED / layout.WEIGHTS).stat().st_size \
        < 20 * 2**20


def test_an_evaluation_on_onnxruntime_takes_the_threads_pytorch_would(store, monkeypatch):
    from fer.evaluation.evaluate import network

    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)  # whatever this machine gives a batch job
    net, _, runtime = network(resolve_model("default"), runtime="onnx")
    assert runtime == "onnx" and net.runner.threads == 3
    assert onnx.session(resolve_model("default")).runner.threads == onnx.THREADS == 1  # Predict and Live: one
