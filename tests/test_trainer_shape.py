"""The trainer reads at one go: no function of fer/training longer than about a screen (60 lines)
or taking more than 8 parameters; the recipe carries every config key."""
import ast
from dataclasses import fields, is_dataclass

from fer.training import config as C
from fer.training.recipe import Recipe

from builders import REPO


def _functions():
    for path in sorted((REPO / "fer" / "training").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if p.arg not in ("self", "cls")]
                params += [x.arg for x in (a.vararg, a.kwarg) if x]
                yield f"{path.name}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1, len(params)


def test_no_trainer_function_is_longer_than_a_screen_or_takes_more_than_8_parameters():
    long = [f"{name}: {n} lines" for name, n, _ in _functions() if n > 60]
    wide = [f"{name}: {k} parameters" for name, _, k in _functions() if k > 8]
    assert not long and not wide, "\n".join(long + wide)


def test_the_recipe_carries_every_config_key():
    recipe = Recipe.from_config(C.resolve({}, ["dataset=any", "optimizer.lr=0.003", "ema.decay=0.5"]))

    def keys(obj, prefix=""):
        for f in fields(obj):
            value = getattr(obj, f.name)
            if is_dataclass(value):
                yield from keys(value, f"{prefix}{f.name}.")
            else:
                yield f"{prefix}{f.name}"

    carried = set(keys(recipe)) | {f"augment.{k}" for k in recipe.augment}
    renamed = {"sampler.balanced": "balanced_sampler", "early_stopping.patience": "patience",
               "checkpoint.monitor": "monitor", "tta.flip": "tta_flip",
               "checkpoint.every_seconds": "checkpoint_seconds"}
    not_training = {"name"}  # the run's display name: run.json holds it, training does not read it
    missing = [k for k in C.SCHEMA if k not in not_training and renamed.get(k, k) not in carried]
    assert not missing, f"keys the recipe drops: {missing}"
    assert (recipe.optimizer.lr, recipe.ema.decay, recipe.config["optimizer"]["lr"]) == (0.003, 0.5, 0.003)
