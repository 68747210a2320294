"""python -m training.evaluate --run X --dataset NAME [--split test|val|train|all] [--flip]

X is whatever Predictor.load accepts: a model folder, a run id, a model name, or "default".
Prints the summary as JSON on stdout; the last line on stderr names the folder written.
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate")
    p.add_argument("--run", required=True, help="model folder, run id, model name or 'default'")
    p.add_argument("--dataset", required=True, help="dataset of the store")
    p.add_argument("--split", default="test", choices=("test", "val", "train", "all"))
    p.add_argument("--flip", action="store_true", help="average with the mirrored image (test-time augmentation)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--job", help=argparse.SUPPRESS)  # a job folder to report to (fer.jobs)
    args = p.parse_args(argv)

    from fer import jobs
    from fer.evaluation import evaluate_model

    beat = jobs.Heartbeat(args.job) if args.job else None
    try:
        if beat:
            beat.__enter__()
        summary, out = evaluate_model(args.run, args.dataset, args.split, device=args.device, flip=args.flip)
        if beat:
            beat.finish("finished", output=str(out))
    except (ValueError, OSError, KeyError) as e:
        if beat:
            beat.finish("failed", error=str(e))
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if beat:
            beat.__exit__(None, None, None)
    print(json.dumps({k: v for k, v in summary.items() if k != "per_class"}))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
