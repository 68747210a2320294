"""python -m training.train --config training/configs/NAME.yaml [--set key=value ...] [--resume RUN_ID]

Trains in the foreground and writes a run folder under $FER_ARTIFACTS/runs/; progress on stderr,
the run id on the last line. Under torchrun (--standalone --nproc_per_node N) it trains with DDP.
"""
from __future__ import annotations

import argparse
import os
import sys


def _tee(log, path):
    def both(msg):
        log(msg)
        with open(path, "a", encoding="utf-8") as f:
            f.write(msg + "\n")
    return both


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[1])
    p.add_argument("--config", help="a preset (training/configs/*.yaml) or a run's config.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (dotted)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a run from its last checkpoint")
    args = p.parse_args(argv)
    if not args.config and not args.resume:
        p.error("give --config (a new run) or --resume RUN_ID")

    import torch

    from fer import runs, store
    from fer.training import config as C
    from fer.training import trainer

    rank = int(os.environ.get("RANK", "0"))
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.resume:
            folder = runs.folder(args.resume)
            if args.set:
                raise C.ConfigError("--set cannot change a run being resumed; start a new run instead")
        else:
            cfg = C.load(args.config, args.set)
            trainer.prepare(cfg)
            folder = None
            if rank == 0:
                folder = runs.create(cfg)
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # every rank trains into rank 0's folder
                trainer._dist()
                box = [str(folder) if folder else None]
                torch.distributed.broadcast_object_list(box, src=0)
                folder = store.Path(box[0])
        if rank == 0 and not os.environ.get("FER_JOB"):  # as a job, stdout/stderr already go to train.log
            log = _tee(log, folder / "train.log")
        result = trainer.run(folder, log=log)
    except (C.ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if rank == 0:
        print(f"run {folder.name}: {result['state']} after {result['epoch']} epochs; wrote {folder}", file=sys.stderr)
    return 0 if result["state"] in ("finished", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
