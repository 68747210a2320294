"""The trainer reads at one go: no function of fer/training (subpackages included) longer than
about a screen (60 lines) or taking more than 8 parameters; the top-level training/ scripts stay
thin entry points over the library; the recipe carries every config key under its own name."""
import ast

import pytest

from fer import config as C
from fer.config import Recipe

from builders import REPO

LONGEST, WIDEST = 60, 8


def _functions(paths, root):
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if p.arg not in ("self", "cls")]
                params += [x.arg for x in (a.vararg, a.kwarg) if x]
                yield f"{path.relative_to(root)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1, len(params)


def too_big(root) -> list[str]:
    """Functions of ``root``/fer/training (subpackages included) over the limits."""
    paths = sorted((root / "fer" / "training").rglob("*.py"))
    found = list(_functions(paths, root))
    return [f"{name}: {n} lines" for name, n, _ in found if n > LONGEST] + \
        [f"{name}: {k} parameters" for name, _, k in found if k > WIDEST]


def test_no_trainer_function_is_longer_than_a_screen_or_takes_more_than_8_parameters():
    bad = too_big(REPO)
    assert not bad, "\n".join(bad)


def test_the_shape_check_sees_a_long_or_wide_function_in_a_subpackage(tmp_path):
    deep = tmp_path / "fer" / "training" / "sub" / "deep.py"
    deep.parent.mkdir(parents=True)
    deep.write_text("def wide(a, b, c, d, e, f, g, h, i):\n    pass\n\n\ndef long():\n" + "    x = 1\n" * 60)
    assert too_big(tmp_path) == ["fer/training/sub/deep.py:5 long: 61 lines", "fer/training/sub/deep.py:1 wide: 9 parameters"]


def test_the_training_scripts_are_thin_entry_points():
    scripts = sorted((REPO / "training").glob("*.py"))
    long = [f"{p.name}: {len(p.read_text().splitlines())} lines" for p in scripts if len(p.read_text().splitlines()) > 60]
    assert not long, long
    assert {p.name for p in scripts} >= {"train.py", "evaluate.py", "card.py"}
    assert sorted(p.name for p in (REPO / "training").iterdir() if p.is_dir()) == ["configs"]  # the presets' link


@pytest.mark.parametrize("sets", [["dataset=any", "optimizer.lr=0.003", "ema.decay=0.5", "sampler.balanced=true",
                                   "checkpoint.every_seconds=7", "tta.flip=true", "eval_splits=[val, test]"]])
def test_the_recipe_carries_every_config_key_under_its_own_name(sets):
    cfg = C.resolve({}, sets)
    recipe = Recipe.from_config(cfg)
    for key in C.SCHEMA:
        value = recipe
        for part in key.split("."):
            value = getattr(value, part)
        expected = C.get_key(cfg, key)
        assert (list(value) if isinstance(value, tuple) else value) == expected, key
    assert recipe.config == cfg
