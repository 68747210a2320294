"""``python -m fer``: datasets (import, align, list), training (in the foreground or ``--submit``ted
to the jobs backend), sweeps, models (list, promote, restore, rename, delete, export, import),
predictions and the activity log from the command line. Every change to the store is an action
(``fer.actions``) of the operating-system user running the command, recorded in the activity log.

Progress and the closing "wrote ..." line go to stderr; results (summaries, lists) to stdout.
A command that cannot do its job exits non-zero with a one-line reason. torch is imported only by
the commands that run a model (it takes seconds; listing datasets must not wait for it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from fer import actions, catalog, store
from fer import config as C
from fer.actions import Actor
from fer.data import names, summary, summary_text
from fer.data.align import describe
from fer.data.formats import FORMATS
from fer.images import ImageError, open_image
from fer.startup import register_job_kinds
from fer.store import Dataset, Run
from fer.store.io import store_write_error
from fer.video import analyse, is_video_name, probe

ME = Actor.cli()  # the operating-system user: whoever runs the command has the machine


def _progress_bar():
    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            unit = {"scan": "img", "align": "img", "frames": "frame"}.get(stage, "step")
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr, leave=False,
                                     dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _progress(args):
    return None if args.quiet else _progress_bar()


def cmd_import(args) -> int:
    t0 = time.perf_counter()
    progress = _progress(args)
    result = actions.datasets.import_dataset(ME, args.sources, args.name, mapping=args.map, seed=args.seed,
                                             replace=args.replace, here=True, progress=progress)
    if args.align:
        _align(args, progress)
    print(summary_text(summary(result.name)))
    print(f"wrote {result.folder} ({len(result.manifest)} images) in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return 0


def _align(args, progress) -> dict:
    done = actions.datasets.align(ME, args.name, detector=args.detector, size=args.size, here=True,
                                  margin=args.margin, grayscale=True if args.gray else None, progress=progress)
    print(describe(done))
    return done


def cmd_align(args) -> int:
    t0 = time.perf_counter()
    _align(args, _progress(args))
    print(f"wrote {Dataset(args.name).faces_path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    found = names()
    if not found:
        print(f"no datasets in {store.datasets_dir()}; import one with: python -m fer dataset import SRC --name NAME",
              file=sys.stderr)
        return 0
    print(f"{'name':20} {'images':>8} {'train':>7} {'val':>7} {'test':>7}  sources")
    for n in found:
        s = summary(n)
        sp = s["splits"]
        print(f"{n:20} {s['rows']:>8} {sp['train']:>7} {sp['val']:>7} {sp['test']:>7}  "
              + ", ".join(f"{k} ({v})" for k, v in s["sources"].items()))
    return 0


def _align_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("alignment")
    g.add_argument("--size", type=int, default=None,
                   help="crop side in pixels (default 112; ready-made crops keep their own size)")
    g.add_argument("--detector", choices=("mtcnn", "haar"), default="mtcnn", help="face detector (default mtcnn)")
    g.add_argument("--margin", type=float, default=0.3, help="margin around the face box on every side (default 0.3)")
    g.add_argument("--gray", action="store_true", help="store grayscale crops")


def _check_inputs(paths: list[str]) -> list[tuple[str, str]]:
    """(path, "image" | "video") for every input, checked before any model is loaded."""
    out = []
    for p in paths:
        if not Path(p).is_file():
            raise ValueError(f"{p}: no such file")
        if is_video_name(p):
            probe(p)
            out.append((p, "video"))
            continue
        try:
            open_image(p)  # the pixel limit is checked before decoding; what is not an image is refused
        except ImageError as e:
            raise ValueError(f"{p}: {e}") from None
        out.append((p, "image"))
    return out


def cmd_predict(args) -> int:
    from fer.predict import Predictor, image_record, results_table  # torch: only to predict

    inputs = _check_inputs(args.inputs)
    if args.csv and any(kind == "video" for _, kind in inputs):
        raise ValueError("--csv writes the photos' table; for a video's frames use --json")
    predictor = Predictor.load(args.model, detector=args.detector, runtime=args.runtime)
    for warning in (predictor.fallback, predictor.warning):
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    if predictor.runtime_why and not args.quiet:
        print(f"{predictor.label}: {predictor.runtime_why}", file=sys.stderr)
    model = predictor.identity()  # every line and row names the model that made it
    n_faces, photos = 0, []
    for path, kind in inputs:
        if kind == "image":
            results = predictor.predict(open_image(path), whole_image=args.whole_image)
            n_faces += len(results)
            photos.append((path, results))
            if args.csv:
                continue
            if args.json:
                print(json.dumps(image_record(path, results, model)), flush=True)
            else:
                found = "; ".join(f"face {k} {r.label} {r.confidence:.0%} at {[round(v) for v in r.box]}"
                                  for k, r in enumerate(results, 1))
                print(f"{path}: {found or 'no face found (try --whole-image)'}")
            continue

        bar = None if args.quiet else _progress_bar()
        timeline, _ = analyse(path, predictor, every=args.every, previews=0,
                              progress=(lambda done, total: bar("frames", done, total)) if bar else None)
        for frame, rows in timeline.groupby("frame", sort=True):
            faces = [{"box": [round(float(r[k]), 1) for k in ("x1", "y1", "x2", "y2")], "label": r["label"],
                      "probs": {c: round(float(r[c]), 4) for c in predictor.classes}}
                     for _, r in rows.iterrows() if isinstance(r["label"], str)]
            n_faces += len(faces)
            if args.json:
                print(json.dumps({"video": path, "frame": int(frame), "time": round(float(rows["time"].iat[0]), 3),
                                  "model": model, "faces": faces}), flush=True)
            else:
                print(f"{path} @ {rows['time'].iat[0]:.2f} s: " + ("; ".join(f"{f['label']}" for f in faces) or "no face"))
    if args.csv:  # the same table as the Predict page's
        sys.stdout.write(results_table(photos, model).to_csv(index=False))
    print(f"predicted {n_faces} face(s) in {len(inputs)} input(s) with {predictor.label}", file=sys.stderr)
    return 0


def _tee(log, path):
    def both(msg):
        log(msg)
        with open(path, "a", encoding="utf-8") as f:
            f.write(msg + "\n")
    return both


def cmd_train(args) -> int:
    """Train in the foreground (under torchrun: with DDP, one process a GPU). Prints the run id and
    its folder on stdout; progress on stderr."""
    if not args.config and not args.resume:
        raise C.ConfigError("give --config (a new run) or --resume RUN_ID")
    if args.fresh and not args.resume:
        raise C.ConfigError("--fresh starts a run given with --resume again from scratch")
    if args.resume and args.set:
        raise C.ConfigError("--set cannot change a run being resumed; start a new run instead")
    cfg = None if args.resume else C.load(args.config, args.set)
    if args.submit:
        return _submit_run(cfg, args.resume, fresh=args.fresh)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    tee = [log]

    def announce(run: Run) -> None:  # rank 0, as soon as the run exists
        print(f"{run.id} {run.folder}", flush=True)
        if not os.environ.get("FER_JOB"):  # as a job, stdout and stderr already go to the run's log
            tee[0] = _tee(log, run.log_path)

    here = {"here": True, "log": lambda msg: tee[0](msg), "announce": announce}
    if args.resume:
        again = actions.runs.restart if args.fresh else actions.runs.resume
        _, result = again(ME, args.resume, **here)
    else:
        _, result = actions.runs.start(ME, cfg, **here)
    return 0 if result["state"] in ("finished", "cancelled") else 1


def _submit_run(cfg: dict | None, run_id: str | None = None, fresh: bool = False) -> int:
    """Queue a new run (``cfg``) or resume ``run_id`` through the jobs backend in force; print its
    id and folder as the foreground command does, and where it went on stderr."""
    from fer import jobs, settings

    jobs.backends.in_force().check()  # nothing is written when the backend cannot take it
    if run_id is None:
        run = Run(actions.runs.start(ME, cfg))
    else:
        run = Run.open(run_id)
        (actions.runs.restart if fresh else actions.runs.resume)(ME, run_id)
    backend = run.status().get("backend") or settings.load().jobs_backend
    print(f"{run.id} {run.folder}", flush=True)
    print(f"run {run.id}: {run.state} ({backend} jobs); follow it on the Train page or in {run.log_path}",
          file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    """A study in the foreground: its trials are runs queued through the jobs backend in force;
    the best trial's value, parameters and run on stdout (``--json``: one line)."""
    import signal

    from fer.sweeps.coordinator import Sweep

    sweep = Sweep.create(args.name, C.load(args.config, args.set), args.search, trials=args.trials,
                         parallel=args.parallel, objective=args.objective)
    # Ctrl-C is a stop request, as Cancel on the page: the running trials save and stop
    signal.signal(signal.SIGINT, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    folder, result = actions.sweeps.start(ME, sweep, here=True, log=log)
    if args.json:
        print(json.dumps({k: result[k] for k in ("best_value", "best_params", "best_run", "trials", "pruned",
                                                 "complete", "failed", "state", "study", "seconds")}))
    elif result["best_run"]:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result["best_params"].items())
        print(f"best trial {result['best_trial']}: {sweep.objective} {result['best_value']:.4f}, run {result['best_run']}; "
              f"{params}")
    else:
        print(f"no trial finished ({result['trials']} trials, {result['failed']} failed)")
    print(f"study {sweep.name}: {result['state']}, {result['trials']} trials ({result['complete']} complete, "
          f"{result['pruned']} pruned, {result['failed']} failed) in {result['seconds']:.0f} s; job {folder.name}",
          file=sys.stderr)
    return 0 if result["complete"] or result["state"] == "cancelled" else 1



JSON_FIELDS = ("name", "version", "current", "sha256", "source_run", "created", "dataset", "test_accuracy",
               "test_macro_f1", "leak_free_accuracy", "folder")


def cmd_model_list(args) -> int:
    rows = catalog.rows()  # the Models view's rows
    if args.json:
        for r in rows:
            print(json.dumps({k: r[k] for k in JSON_FIELDS}))
        return 0
    if not rows:
        print("no model yet: promote a finished run with python -m fer model promote RUN_ID NAME", file=sys.stderr)
        return 0
    def pct(x):
        return f"{x:.2%}" if x is not None else "—"

    print(f"{'name':16} {'version':>8}  {'':1} {'source run':22} {'test acc':>8} {'leak-free':>9}  {'sha256':12}  created")
    for r in rows:
        print(f"{r['name']:16} {r['version']:>8}  {'*' if r['current'] else ' '} {str(r['source_run'] or '—'):22} "
              f"{pct(r['test_accuracy']):>8} {pct(r['leak_free_accuracy']):>9}  {r['sha256'][:12]}  {r['created'] or '—'}")
    return 0


def cmd_model_promote(args) -> int:
    v = actions.models.promote(ME, args.run, args.name)
    print(f"{v.ref}: now the current {v.name} (from run {args.run}); {v.folder}")
    return 0


def cmd_model_restore(args) -> int:
    v = actions.models.restore(ME, args.name, args.version)
    print(f"{v.ref}: now the current {v.name}; {v.folder}")
    return 0


def cmd_model_rename(args) -> int:
    m = actions.models.rename(ME, args.name, args.new)
    print(f"{args.name} is now {m.name} ({len(m.versions())} version(s)); {m.folder}")
    return 0


def cmd_model_delete(args) -> int:
    actions.models.delete(ME, args.name)
    after = " (default serves the shipped model again)" if args.name == store.DEFAULT else ""
    print(f"deleted every stored version of {args.name}{after}")
    return 0


EXPORT_FORMATS = {".onnx": "onnx", ".zip": "zip"}


def cmd_model_export(args) -> int:
    """A model as an ONNX file (checked against PyTorch) or a model zip, written atomically."""
    out = Path(args.out)
    fmt = args.format or EXPORT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"--out {out}: name an .onnx or .zip file, or give --format onnx|zip")
    suffix = {v: k for k, v in EXPORT_FORMATS.items()}[fmt]
    if out.suffix.lower() != suffix:
        raise ValueError(f"--out {out}: a {fmt} export is written to a {suffix} file")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: no folder {out.parent}")
    version = store.resolve_model(args.name)
    from fer.models import exports  # torch and onnxruntime: only to export

    size, parity = exports.export_file(version, fmt, out)
    if parity:
        print(f"{version.ref}: onnxruntime against PyTorch, max |Δp| {parity['max_abs_diff']:.2g} (random batch "
              f"{parity['random_batch']:.2g}, astronaut face {parity['astronaut_face']:.2g}; at most "
              f"{parity['tolerance']:g})")
    print(f"wrote {out} ({fmt}, {size / 2**20:.1f} MiB): {version.ref}, sha256 {version.sha256()[:12]}",
          file=sys.stderr)
    return 0


def cmd_model_ensemble(args) -> int:
    """Models averaged as one: a new version of NAME, or a model folder (``--out``)."""
    from fer.models import ensemble  # torch: the members are loaded to be checked

    if args.out:  # a folder of the user's, outside the store
        meta = ensemble.write_folder(Path(args.out), args.members, flip=args.flip, half=args.half)
        print(f"{args.out}: {ensemble.describe(meta)}")
        return 0
    if not args.name:
        raise ValueError("name the model to add the ensemble to (NAME), or give --out FOLDER")
    v = actions.models.ensemble(ME, args.name, args.members, flip=args.flip, half=args.half)
    print(f"{v.ref}: now the current {v.name}, {ensemble.describe(v.meta())}; {v.folder}")
    return 0


def cmd_model_calibrate(args) -> int:
    """A new version: the model's weights with a temperature fitted on a validation split."""
    v = actions.models.calibrate(ME, args.model, args.dataset, split=args.split, flip=args.flip, name=args.name)
    c = v.meta()["calibration"]
    print(f"{v.ref}: now the current {v.name}; temperature {c['temperature']:g} fitted on {args.dataset}/{args.split} "
          f"({c['fitted_on']['n']:,} images, flip TTA {'on' if c['fitted_on']['flip'] else 'off'}): NLL "
          f"{c['nll_before']:.4f} → {c['nll_after']:.4f}, ECE {c['ece_before']:.4f} → {c['ece_after']:.4f}; {v.folder}")
    return 0


def cmd_model_import(args) -> int:
    """A model zip, checked whole, becomes a new version of NAME (and its current one)."""
    if not Path(args.file).is_file():
        raise ValueError(f"{args.file}: no such file")
    version, contents = actions.models.import_zip(ME, args.file, args.name)
    print(f"{version.ref}: imported from {Path(args.file).name} ({contents.meta['architecture']}, sha256 "
          f"{contents.sha256[:12]}); now the current {version.name}; {version.folder}")
    if contents.ignored:
        print(f"note: {', '.join(contents.ignored)} in the zip was not kept; the app makes its own ONNX export "
              "from the weights on first use", file=sys.stderr)
    return 0


def cmd_activity(args) -> int:
    """The activity log, newest first: one line a record (``--json``: one object a line)."""
    if args.limit < 1:
        raise ValueError("--limit: use 1 or more")
    found = actions.history.records(limit=args.limit, who=args.who, action=args.action, target=args.target)
    for r in found:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            a = r.get("actor") or {}
            print(f"{r.get('time', '')[:19]}  {a.get('name')} ({a.get('kind')})  {r.get('action')}  {r.get('target')}"
                  f"  {r.get('outcome')}" + (f": {r['error']}" if r.get("error") else ""))
    if not found:
        print(f"no activity recorded in {store.root()} (yet)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer", description="FER Studio on the command line.")
    sub = p.add_subparsers(dest="command", required=True)
    ds = sub.add_parser("dataset", help="import and list datasets").add_subparsers(dest="action", required=True)

    imp = ds.add_parser("import", help="import sources (folders, zips or a CSV) as one dataset",
                        description="Formats: " + "; ".join(f"{k}: {v.description}" for k, v in FORMATS.items()))
    imp.add_argument("sources", nargs="+", metavar="SRC[=FORMAT]", help="a folder, .zip or .csv; format detected if not named")
    imp.add_argument("--name", required=True, help="dataset name (letters, digits, . _ -)")
    imp.add_argument("--map", action="append", default=[], metavar="SOURCE=CLASS",
                     help="map a source label onto a class (joy=happy, 0=angry) or drop it (contempt=drop)")
    imp.add_argument("--seed", type=int, default=0, help="seed of carved splits (default 0)")
    imp.add_argument("--replace", action="store_true", help="replace a dataset of the same name (decisions are kept)")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.add_argument("--align", action="store_true", help="detect and align the faces after the import")
    _align_options(imp)
    imp.set_defaults(func=cmd_import)

    al = ds.add_parser("align", help="detect and align every face of a dataset once (one array of crops)")
    al.add_argument("name", help="dataset name")
    al.add_argument("--quiet", action="store_true", help="no progress bar")
    _align_options(al)
    al.set_defaults(func=cmd_align)

    ls = ds.add_parser("list", help="datasets of the store")
    ls.set_defaults(func=cmd_list)

    tr = sub.add_parser("train", help="train a model in the foreground (a run of the store)",
                        description="Trains in the foreground and writes a run folder; prints the run id and "
                                    "folder, progress on stderr. Under torchrun it trains with DDP.")
    tr.add_argument("--config", metavar="PRESET_OR_FILE",
                    help="a preset name (python -m fer train --config smoke) or a YAML file (a run's config too)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (dotted)")
    tr.add_argument("--resume", metavar="RUN_ID", help="continue a run from its last checkpoint")
    tr.add_argument("--fresh", action="store_true",
                    help="with --resume: start the run again from scratch (its checkpoints, epochs and weights go)")
    tr.add_argument("--submit", action="store_true",
                    help="queue the run through the jobs backend in force (local or ray) and print its id, "
                         "instead of training in the foreground")
    tr.set_defaults(func=cmd_train)

    sw = sub.add_parser("sweep", help="an Optuna study: trials are runs, pruned on their validation figures",
                        description="Searches config keys with Optuna (TPE; median pruner after 2 trials, fed each "
                                    "epoch's validation figure). Each trial is a run queued through the jobs backend "
                                    "in force; the study is kept in the store's SQLite file or study_storage, and "
                                    "sweeping again under the same --name adds trials to it.")
    sw.add_argument("--config", required=True, metavar="PRESET_OR_FILE", help="the base config: a preset or a YAML file")
    sw.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (dotted)")
    sw.add_argument("--search", action="append", default=[], metavar="KEY=DIST:ARGS",
                    help="a key to search: uniform:LOW:HIGH, loguniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,C "
                         "(e.g. optimizer.lr=loguniform:1e-4:1e-2); repeat for several keys")
    sw.add_argument("--trials", type=int, default=6, help="trials to run (added to a study of that name; default 6)")
    sw.add_argument("--parallel", type=int, default=1, help="trials at once (each takes a jobs-at-once slot; default 1)")
    sw.add_argument("--objective", choices=("val_macro_f1", "val_accuracy"), default="val_macro_f1",
                    help="what the study maximises: the best epoch's validation figure (default val_macro_f1)")
    sw.add_argument("--name", help="the study's name (default: sweep-<time>); an existing study gets more trials")
    sw.add_argument("--json", action="store_true", help="one JSON object on one line: best_value, best_params, "
                                                        "best_run, trials, pruned, ...")
    sw.set_defaults(func=cmd_sweep)

    mo = sub.add_parser("model", help="named models and their versions").add_subparsers(dest="action", required=True)
    ml = mo.add_parser("list", help="every version of every named model (default's shipped one included)")
    ml.add_argument("--json", action="store_true", help="one JSON object per version a line")
    ml.set_defaults(func=cmd_model_list)
    mp = mo.add_parser("promote", help="a run's weights become a new version of NAME, and its current one")
    mp.add_argument("run", metavar="RUN_ID")
    mp.add_argument("name", metavar="NAME")
    mp.set_defaults(func=cmd_model_promote)
    mr = mo.add_parser("restore", help="make an earlier version of NAME current (default: the previous one)")
    mr.add_argument("name", metavar="NAME")
    mr.add_argument("version", metavar="VERSION", nargs="?", help="a version number; for default also 'shipped' or an earlier shipped one, 'shipped-N'")
    mr.set_defaults(func=cmd_model_restore)
    mn = mo.add_parser("rename", help="a model and every version of it under a new name (not default)")
    mn.add_argument("name", metavar="NAME")
    mn.add_argument("new", metavar="NEW_NAME")
    mn.set_defaults(func=cmd_model_rename)
    md = mo.add_parser("delete", help="every stored version of NAME (for default: back to the shipped model)")
    md.add_argument("name", metavar="NAME")
    md.set_defaults(func=cmd_model_delete)
    mx = mo.add_parser("export", help="a model as an ONNX file (checked against PyTorch) or a model zip",
                       description="ONNX: probabilities for normalised N x C x H x W float32 input, the batch "
                                   "dimension dynamic, preprocessing and identity in the metadata. Zip: weights, "
                                   "model description, card, config and the ONNX export when there is one.")
    mx.add_argument("name", metavar="NAME", help="model name, NAME@VERSION, run id, 'default' or a model folder")
    mx.add_argument("--format", choices=("onnx", "zip"), help="default: from the --out file's suffix")
    mx.add_argument("--out", required=True, metavar="FILE", help="the file to write (.onnx or .zip)")
    mx.set_defaults(func=cmd_model_export)
    me = mo.add_parser("ensemble", help="several models averaged as one: a new version of NAME (or a folder)",
                       description="The members' softmax probabilities are averaged; they must take the same input "
                                   "(size, channels, normalisation, face crop). The result is an ordinary model: "
                                   "Predict, Evaluate, Explain, ONNX export and model zips take it.")
    me.add_argument("name", metavar="NAME", nargs="?", help="the model name to add a version to")
    me.add_argument("--member", dest="members", action="append", required=True, metavar="MODEL",
                    help="a member (run id, NAME, NAME@VERSION, 'default' or a model folder); two or more")
    me.add_argument("--flip", action="store_true", help="average each face with its mirror image too (flip TTA)")
    me.add_argument("--half", action="store_true", help="store the weights in float16: half the size (they are "
                    "computed in float32; measure the result, as for any new version)")
    me.add_argument("--out", metavar="FOLDER", help="write a model folder there instead of adding a version")
    me.set_defaults(func=cmd_model_ensemble)
    mc = mo.add_parser("calibrate", help="a model's weights with a temperature fitted on a validation split: a new "
                       "version", description="Temperature scaling: one scalar T fitted (lowest NLL) on the "
                       "predictions of a validation split, made as the model serves them (its flip TTA, or the one "
                       "asked for); the predicted class never changes, the confidence does. The fit, the split and "
                       "NLL and ECE before and after are kept with the new version (its calibration block).")
    mc.add_argument("model", metavar="MODEL", help="NAME, NAME@VERSION, 'default' or a run id")
    mc.add_argument("--dataset", required=True, help="a dataset of the store")
    mc.add_argument("--split", default="val", choices=("val", "train"), help="the split to fit on (default val)")
    mc.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                    help="serve (and fit) with flip TTA, or without (default: as the model does)")
    mc.add_argument("--name", help="the model to add the version to (default: the model's own name)")
    mc.set_defaults(func=cmd_model_calibrate)
    mi = mo.add_parser("import", help="a model zip, checked whole, becomes a new version of NAME")
    mi.add_argument("file", metavar="FILE.zip")
    mi.add_argument("--name", required=True, help="the model name to add a version to")
    mi.set_defaults(func=cmd_model_import)

    pr = sub.add_parser("predict", help="emotions of the faces in photos and videos")
    pr.add_argument("inputs", nargs="+", metavar="IMAGE_OR_VIDEO")
    pr.add_argument("--model", default="default", help="model folder, run id, model name, NAME@VERSION or 'default'")
    out = pr.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per image (per analysed video frame) a line")
    out.add_argument("--csv", action="store_true", help="the photos' faces as one CSV table (as the Predict page gives)")
    pr.add_argument("--detector", choices=("mtcnn", "haar"), default=None,
                    help="override the detector the model was trained with (a warning is printed)")
    pr.add_argument("--every", type=int, default=5, help="videos: analyse every k-th frame (default 5)")
    pr.add_argument("--whole-image", action="store_true", help="an image without a detected face is one face")
    pr.add_argument("--runtime", choices=("auto", "torch", "onnx"), default="auto",
                    help="auto (default): onnxruntime where the model's ONNX export measured it faster than "
                         "PyTorch (the shipped model's ships with it; python -m fer model export NAME --out "
                         "x.onnx makes one), else PyTorch; torch; or onnx (exported into the store on first use)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_predict)

    ac = sub.add_parser("activity", help="who changed what in the store, newest first",
                        description="The activity log: every action on the store (from the pages and the command "
                                    "line), allowed or refused, newest first.")
    ac.add_argument("--json", action="store_true", help="one JSON object per record a line")
    ac.add_argument("--limit", type=int, default=50, help="the latest N records (default 50)")
    ac.add_argument("--who", default="", help="only records whose actor contains this text")
    ac.add_argument("--action", default="", help="only records whose action contains this text (model.promote)")
    ac.add_argument("--target", default="", help="only records whose target contains this text")
    ac.set_defaults(func=cmd_activity)
    return p


def main(argv: list[str] | None = None) -> int:
    register_job_kinds()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # DatasetError, SourceError, bad names and mappings, a full store
        print(f"error: {store_write_error(e) or e}", file=sys.stderr)
        return 2
