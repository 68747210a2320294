"""python -m training.train --config training/configs/NAME.yaml [--set key=value ...] [--resume RUN_ID]

The same as ``python -m fer train`` (kept because cards and docs name it): trains in the
foreground and writes a run folder under $FER_ARTIFACTS/runs/; the run id and folder on stdout,
progress on stderr. Under torchrun (--standalone --nproc_per_node N) it trains with DDP.
"""
from __future__ import annotations

import sys

from fer.cli import main as fer_main


def main(argv: list[str] | None = None) -> int:
    return fer_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
