"""python -m training.evaluate --run X --dataset NAME [--split test|val|train|all] [--flip]

X is whatever Predictor.load accepts: a model folder, a run id, a model name, NAME@VERSION or
"default". Prints the summary as JSON on stdout; the last line on stderr names the folder written.
A thin entry point over the evaluation action (``fer.actions.evaluations``: recorded in the
activity log as the command line's user).
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate")
    p.add_argument("--run", required=True, help="model folder, run id, model name, NAME@VERSION or 'default'")
    p.add_argument("--dataset", required=True, help="dataset of the store")
    p.add_argument("--split", default="test", choices=("test", "val", "train", "all"))
    p.add_argument("--flip", action="store_true", help="average with the mirrored image (test-time augmentation)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    from fer.actions import Actor, evaluations

    try:
        summary, out = evaluations.evaluate(Actor.cli(), args.run, args.dataset, args.split, flip=args.flip,
                                            device=args.device, here=True)
    except (ValueError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "per_class"}))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
