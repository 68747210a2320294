"""Ensembles: several model folders averaged as one ordinary model folder, which the Predictor,
evaluation, Grad-CAM, ONNX export and the CLI take as they take any model."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fer import cli, models
from fer.models import ensemble
from fer.predict import Predictor
from fer.store import Model, resolve_model

from builders import untrained_model


@pytest.fixture
def members(tmp_path):
    torch.manual_seed(0)
    a = untrained_model(tmp_path / "a")
    torch.manual_seed(1)
    b = untrained_model(tmp_path / "b")
    return a, b


def test_the_ensemble_averages_its_members_probabilities(store, tmp_path, members):
    a, b = members
    meta = ensemble.write(tmp_path / "ens", [str(a), str(b)])
    assert meta["architecture"] == "ensemble" and [m["source"] for m in meta["members"]] == [str(a), str(b)]
    net, meta = models.load(tmp_path / "ens")  # an ordinary model folder
    x = torch.randn(5, 1, 48, 48)
    with torch.inference_mode():
        expected = torch.stack([F.softmax(models.load(m)[0](x), 1) for m in (a, b)]).mean(0)
        got = F.softmax(net(x), 1)
        single = F.softmax(models.load(a)[0](x), 1)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, single, atol=1e-3)  # both members count


def test_flip_tta_is_recorded_and_the_predictor_applies_it(store, tmp_path, members):
    a, b = members
    ensemble.write(tmp_path / "plain", [str(a), str(b)])
    ensemble.write(tmp_path / "flip", [str(a), str(b)], flip=True)
    crops = np.random.default_rng(0).integers(0, 255, (3, 48, 48, 1), dtype=np.uint8)
    plain, flip = Predictor.load(tmp_path / "plain"), Predictor.load(tmp_path / "flip")
    p, q = plain.classify(crops), flip.classify(crops)
    mirrored = plain.classify(crops[:, :, ::-1].copy())
    assert np.allclose(q, (p + mirrored) / 2, atol=1e-5)


def test_members_that_take_another_input_are_refused(store, tmp_path, members):
    a, _ = members
    rgb = untrained_model(tmp_path / "rgb", channels=3)
    with pytest.raises(ValueError, match=r"takes another input .*\(channels: 3 against 1\)"):
        ensemble.combine([str(a), str(rgb)])
    with pytest.raises(ValueError, match="at least two"):
        ensemble.combine([str(a)])
    ensemble.write(tmp_path / "ens", [str(a), str(members[1])])
    with pytest.raises(ValueError, match="an ensemble already"):
        ensemble.combine([str(tmp_path / "ens"), str(a)])


def test_grad_cam_looks_at_every_member(store, tmp_path, members):
    from fer.explain import explain

    ensemble.write(tmp_path / "ens", [str(m) for m in members])
    net, meta = models.load(tmp_path / "ens")
    layers, _ = models.target_layer(net, "ensemble")
    assert layers == [m.stages[-1] for m in net.members]
    crop = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    heat, probs = explain(net, meta, crop, "GradCAM")
    assert heat.shape == (48, 48) and np.isfinite(heat).all() and abs(probs.sum() - 1) < 1e-5


def test_the_cli_adds_an_ensemble_as_a_version_or_writes_a_folder(store, tmp_path, members, capsys):
    a, b = members
    assert cli.main(["model", "ensemble", "team", "--member", str(a), "--member", str(b), "--flip"]) == 0
    assert "team@1: now the current team, ensemble of 2" in capsys.readouterr().out
    v = Model.open("team").current()
    assert v.meta()["tta"] == {"flip": True} and v.info()["ensemble_of"] == [str(a), str(b)]
    assert resolve_model("team").sha256() == v.sha256()
    out = tmp_path / "folder"
    assert cli.main(["model", "ensemble", "--member", str(a), "--member", str(b), "--out", str(out)]) == 0
    assert json.loads((out / "model.json").read_text())["architecture"] == "ensemble"
    # refused with one line, nothing written: a lone member, a folder in the way
    assert cli.main(["model", "ensemble", "solo", "--member", str(a)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert cli.main(["model", "ensemble", "--member", str(a), "--member", str(b), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [m.name for m in Model.list()] == ["default", "team"]


def test_half_stores_the_weights_in_float16_and_gives_the_same_classes(store, tmp_path, members):
    from safetensors import safe_open

    a, b = members
    assert cli.main(["model", "ensemble", "--member", str(a), "--member", str(b), "--out", str(tmp_path / "full")]) == 0
    assert cli.main(["model", "ensemble", "--member", str(a), "--member", str(b), "--out", str(tmp_path / "half"),
                     "--half"]) == 0
    full, half = tmp_path / "full" / "model.safetensors", tmp_path / "half" / "model.safetensors"
    assert half.stat().st_size < 0.55 * full.stat().st_size
    with safe_open(half, "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} <= {torch.float16, torch.int64}
    assert json.loads((tmp_path / "half" / "model.json").read_text())["weights_dtype"] == "float16"
    x = torch.randn(8, 1, 48, 48)
    with torch.inference_mode():
        p_full, p_half = (torch.softmax(models.load(tmp_path / m)[0](x), 1) for m in ("full", "half"))
    assert p_half.dtype == torch.float32 and (p_full - p_half).abs().max() < 1e-2


def test_an_ensemble_exports_to_onnx_with_the_same_probabilities(store, tmp_path, members):
    from fer.models import onnx

    assert cli.main(["model", "ensemble", "team", "--member", str(members[0]), "--member", str(members[1])]) == 0
    session = onnx.session(resolve_model("team"), threads=1)
    net, _ = models.load(resolve_model("team").folder)
    x = torch.randn(4, 1, 48, 48)
    with torch.inference_mode():
        assert torch.allclose(F.softmax(session(x), 1), F.softmax(net(x), 1), atol=1e-4)
