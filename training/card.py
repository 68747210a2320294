"""python -m training.card --run RUN_ID --dataset fer2013 [--out fer/pretrained/default] [--photos 500]

Ships a finished run as a model folder (weights, model.json, card.md) with its card, written from
figures measured now: a thin entry point over ``fer.card.ship``.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.card")
    ap.add_argument("--run", required=True)
    ap.add_argument("--dataset", default="fer2013")
    ap.add_argument("--out", default="fer/pretrained/default")
    ap.add_argument("--photos", type=int, default=500)
    args = ap.parse_args(argv)

    from fer.card import ship

    ship(args.run, args.dataset, args.out, args.photos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
