"""``python -m fer``: datasets from the command line.

Progress and the closing "wrote ..." line go to stderr; results (summaries, lists) to stdout.
A command that cannot do its job exits non-zero with a one-line reason.
"""
from __future__ import annotations

import argparse
import sys
import time


def _progress_bar():
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="img" if stage in ("scan", "align") else "step",
                                     file=sys.stderr, leave=False, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _print_summary(s: dict, out=sys.stdout) -> None:
    table = s["classes"].copy()
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    print(f"dataset {s['name']}: {s['rows']} images from {', '.join(f'{k} ({v})' for k, v in s['sources'].items())}",
          file=out)
    print(table.to_string(), file=out)
    if s["dropped"]:
        print("dropped (outside the seven classes or unusable): "
              + ", ".join(f"{k}: {v}" for k, v in s["dropped"].items()), file=out)
    print("checks: " + ", ".join(f"{k[2:]}: {v}" for k, v in s["checks"].items()), file=out)


def cmd_import(args) -> int:
    from fer.data import import_dataset, summary

    t0 = time.perf_counter()
    result = import_dataset(args.sources, args.name, mapping=args.map, seed=args.seed, replace=args.replace,
                            progress=None if args.quiet else _progress_bar())
    if args.align:
        _align(args)
    _print_summary(summary(result.name))
    print(f"wrote {result.folder} ({len(result.manifest)} images) in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return 0


def _align(args) -> dict:
    from fer.data.align import align_dataset

    done = align_dataset(args.name, size=args.size, detector=args.detector, margin=args.margin,
                         grayscale=True if args.gray else None, progress=None if args.quiet else _progress_bar())
    c = done["crop"]
    how = "resized ready-made crops" if not done["detected"] else (
        f"{c['detector']} detection, eyes levelled, margin {c['margin']}")
    print(f"faces: {done['found']} aligned, {done['no_face']} without a face (centre crop, q_no_face), "
          f"{done['skipped_corrupt']} corrupt skipped; {how}; {c['size']}x{c['size']} "
          f"{'grayscale' if c['grayscale'] else 'RGB'}; {done['images_per_s']} images/s")
    return done


def cmd_align(args) -> int:
    from fer import store

    t0 = time.perf_counter()
    _align(args)
    print(f"wrote {store.dataset_dir(args.name) / 'faces.npy'} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    from fer import store
    from fer.data import names, summary

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


def build_parser() -> argparse.ArgumentParser:
    from fer.data.formats import FORMATS

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

    al = ds.add_parser("align", help="detect and align every face of a dataset once (faces.npy)")
    al.add_argument("name", help="dataset name")
    al.add_argument("--quiet", action="store_true", help="no progress bar")
    _align_options(al)
    al.set_defaults(func=cmd_align)

    ls = ds.add_parser("list", help="datasets of the store")
    ls.set_defaults(func=cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # DatasetError, SourceError, bad names and mappings
        print(f"error: {e}", file=sys.stderr)
        return 2
