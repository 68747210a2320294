"""A model's card: ships a finished run as a model folder (weights, model.json, card.md) and writes
its card from figures measured here (``python -m training.card --run RUN_ID --dataset fer2013
[--out fer/pretrained/default] [--photos 500]`` is its command line): the run's val and test evaluations, the test figure without the images
that have a copy in train (leak-free), the flip test-time-augmentation figure, and the accuracy
on test faces placed in larger photos and found again by the model's own detector and crop.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from fer.store.layout import MODEL_META


def photo_check(predictor, dataset_name: str, n: int, seed: int = 0) -> dict:
    """Test faces (upscaled) at random places and sizes on 640×480 backgrounds, through
    ``Predictor.predict`` (detection + alignment + model): detection rate and accuracy."""
    import cv2
    import skimage.data as d

    from fer.data import info, load_image, manifest
    from fer.images import to_rgb

    rng = np.random.default_rng(seed)
    df = manifest(dataset_name)
    test = df[(df["split"] == "test") & ~df["q_corrupt"]]
    rows = test.iloc[rng.choice(len(test), size=min(n, len(test)), replace=False)]
    bgs = [cv2.resize(np.asarray(b)[..., :3], (640, 480)) for b in (d.coffee(), d.rocket(), d.hubble_deep_field())]
    dinfo = info(dataset_name)
    found = right = 0
    for k, (_, r) in enumerate(rows.iterrows()):
        face = to_rgb(load_image(dinfo, r["path"]))
        side = int(rng.integers(96, 240))
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        canvas = bgs[k % len(bgs)].copy()
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        canvas[y:y + side, x:x + side] = big
        results = predictor.predict(canvas)
        hit = [res for res in results if x <= (res.box[0] + res.box[2]) / 2 <= x + side
               and y <= (res.box[1] + res.box[3]) / 2 <= y + side]
        if hit:
            found += 1
            right += hit[0].label == r["label_name"]
    return {"faces": len(rows), "detected": found, "detection_rate": found / len(rows),
            "accuracy_on_detected": right / max(found, 1)}


def ship(run_id: str, dataset_name: str = "fer2013", out: str | Path = "fer/pretrained/default",
         photos: int = 500) -> Path:
    """The run as a model folder at ``out``, with its card and figures measured now."""
    from fer import evaluation, models, store
    from fer.evaluation import evaluate_model
    from fer.predict import Predictor

    run = store.Run.open(run_id)
    folder = run.folder
    meta = models.read_meta(folder)
    cfg = run.config()
    epochs = run.epochs()
    figures = {}
    for split in ("val", "test"):
        figures[split], _ = evaluate_model(run_id, dataset_name, split)
    figures["test_flip"], _ = evaluate_model(run_id, dataset_name, "test", flip=True)
    pred = run.model().evaluation(f"{dataset_name}/test").predictions()
    figures["test_leak_free"] = evaluation.leak_free(pred, dataset_name, dataset_name)
    predictor = Predictor.load(run_id)
    figures["photos"] = photo_check(predictor, dataset_name, photos)
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk not in ("per_class", "confusion_matrix")}
                      for k, v in figures.items()}, indent=1), file=sys.stderr)

    dest = Path(out)
    weights, meta_file, card_file = (store.layout.WEIGHTS, store.layout.MODEL_META, store.layout.CARD)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / weights, dest / weights)
    meta["metrics"].update({"val": _short(figures["val"]), "test": _short(figures["test"]),
                            "test_flip_tta": _short(figures["test_flip"]),
                            "test_leak_free": _short(figures["test_leak_free"]) | {"excluded": figures["test_leak_free"]["excluded"]},
                            "photos": figures["photos"]})
    meta["source_run"] = run_id
    (dest / meta_file).write_text(json.dumps(meta, indent=2) + "\n")
    size = (dest / weights).stat().st_size / 2**20
    (dest / card_file).write_text(card(meta, cfg, epochs, figures, size))
    print(f"wrote {dest} (weights {size:.1f} MiB)", file=sys.stderr)
    return dest


def _short(s: dict) -> dict:
    return {k: s[k] for k in ("n", "accuracy", "macro_precision", "macro_recall", "macro_f1", "top3_accuracy", "loss")
            if k in s}


def card(meta, cfg, epochs, f, size_mib: float) -> str:
    import yaml

    from fer.labels import CLASSES

    t, v = f["test"], f["val"]
    cm = np.array(t["confusion_matrix"])
    cm_rows = "\n".join(f"| {c} | " + " | ".join(str(x) for x in cm[i]) + f" | {t['per_class'][c]['recall']:.1%} |"
                        for i, c in enumerate(CLASSES))
    minutes = meta["metrics"].get("train_seconds", float(epochs["epoch_seconds"].sum())) / 60
    lf = f["test_leak_free"]
    ph = f["photos"]
    return f"""# FER Studio default model: `{meta['architecture']}` on FER2013

A small CNN (1.2 M parameters, {size_mib:.1f} MiB) that
reads a 48×48 grayscale face and gives the probabilities of the seven classes (angry, disgust, fear,
happy, sad, surprise, neutral). It ships inside the `fer` package so that a fresh install predicts,
explains and runs the live camera before anything is trained.

## Data

FER2013 (`../shared/data/fer2013.zip`, the Kaggle image-folder form; 35,887 48×48 grayscale faces),
imported with `python -m fer dataset import ../shared/data/fer2013.zip --name fer2013`. Official
protocol: Training (28,709) → train, PublicTest (3,589) → val for model selection, PrivateTest
(3,589) → test, touched once for the figures below. No image was excluded; the 12 black images and
the duplicates stay in, as in the published protocol.

## Preprocessing

The images are FER2013's own crops, used as they are (48 px, grayscale, scaled to [0, 1],
normalised with mean 0.5 and std 0.25). For photos, `Predictor` finds faces with MTCNN, levels
the eyes and cuts the square of FER2013's geometry (margin −0.04 around the MTCNN box, measured on
fer2013-mini), as recorded in the `face` block of `{MODEL_META}`.

## Recipe

Preset `training/configs/fer2013_cpu.yaml`: `fer_cnn` from scratch, {cfg['epochs']} epochs, batch
{cfg['batch_size']}, AdamW (lr {cfg['optimizer']['lr']}, weight decay {cfg['optimizer']['weight_decay']}), cosine
schedule with {cfg['schedule']['warmup_epochs']} warm-up epoch, label smoothing {cfg['loss']['label_smoothing']},
dropout {cfg['model']['dropout']}, per-sample batch augmentation (RandomResizedCrop scale 0.8–1, horizontal
flip, RandAugment with {cfg['augment']['randaugment_n']} operation at magnitude {cfg['augment']['randaugment_m']},
brightness and contrast ±0.2), EMA of the weights (decay {cfg['ema']['decay']}) used for validation,
best epoch by val macro-F1 (epoch {meta['metrics'].get('best_epoch')} of {len(epochs)}).

```yaml
{yaml.safe_dump(cfg, sort_keys=False).strip()}
```

## Reproduce

```bash
python -m fer dataset import ../shared/data/fer2013.zip --name fer2013
python -m training.train --config training/configs/fer2013_cpu.yaml
python -m training.card --run RUN_ID --dataset fer2013        # this folder, these figures
python -m training.evaluate --run default --dataset fer2013    # the test figures again
python -m training.evaluate --run default --dataset fer2013 --split val
```

Hardware: {meta['hardware'].get('cpu') or 'CPU'}, 2 cores, no GPU, torch {meta['versions']['torch']}
({meta['hardware'].get('torch_threads')} threads); {minutes:.0f} minutes of training (with other work on
the same two cores at times), git commit `{meta.get('git_commit')}` (HEAD when training started).

## Results

| figure | PublicTest (val) | PrivateTest (test) |
| --- | ---: | ---: |
| images | {v['n']:,} | {t['n']:,} |
| accuracy | {v['accuracy']:.2%} | **{t['accuracy']:.2%}** |
| macro-F1 | {v['macro_f1']:.3f} | {t['macro_f1']:.3f} |
| macro precision / recall | {v['macro_precision']:.3f} / {v['macro_recall']:.3f} | {t['macro_precision']:.3f} / {t['macro_recall']:.3f} |
| top-3 accuracy | {v['top3_accuracy']:.2%} | {t['top3_accuracy']:.2%} |

- **Leak-free PrivateTest**: {lf['accuracy']:.2%} accuracy, macro-F1 {lf['macro_f1']:.3f} on the {lf['n']:,}
  test images without a byte-identical or near copy (pHash distance ≤ 4) in Training ({lf['excluded']} left out).
- With horizontal-flip test-time augmentation: {f['test_flip']['accuracy']:.2%} (macro-F1
  {f['test_flip']['macro_f1']:.3f}); the app reports the plain figure.
- **Faces in photos**: {ph['faces']} PrivateTest faces, upscaled to 96–240 px at random places on
  640×480 photos, found again by MTCNN in {ph['detection_rate']:.1%} of them; on those, through detection,
  alignment and the model, accuracy {ph['accuracy_on_detected']:.2%} (against {t['accuracy']:.2%} on the ready crops).
- The face of `skimage.data.astronaut()` is predicted happy (a test).

Confusion matrix on PrivateTest (rows: true, columns: predicted) and per-class recall:

| true \\ predicted | {' | '.join(CLASSES)} | recall |
| --- | {' | '.join('---:' for _ in CLASSES)} | ---: |
{cm_rows}

For comparison: ResNet-18 on FER2013 in comparable student work 68.3 %, a four-layer CNN 62.1 %,
the `fer` package's mini-Xception about 66 %; the best published single models without extra data
reach about 73 %.

## Limits

- FER2013 is grayscale, 48 px, noisy and web-scraped: about one label in ten is arguable, disgust
  has few examples (recall above), and train and test share hundreds of identical images (hence the
  leak-free figure).
- Posed or exaggerated expressions are recognised far better than subtle ones; fear, sadness and
  anger are often confused with each other and with neutral.
- Performance across ages, skin tones, genders and cultures was not evaluated (FER2013 carries no
  such annotations); expect it to differ.
- Not for decisions about people (hiring, policing, health, education, surveillance). Emotion
  recognition from faces reads expressions, not feelings.
"""
