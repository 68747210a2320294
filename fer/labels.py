"""The canonical label space and the names and codes every source uses for it.

Seven classes with stable ids in FER2013 order. Names are normalised (lower case, separators
folded) before lookup, so ``Happiness``, ``happiness`` and ``HAPPINESS`` are one alias. Numeric
codes differ between sources (FER2013 counts from 0, RAF-DB from 1), so they live in per-source
tables, never in the shared alias table.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CLASS_TO_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
NUM_CLASSES = len(CLASSES)

# Every source's name or letter code for a canonical class. KDEF codes: AF AN DI HA NE SA SU;
# JAFFE codes: AN DI FE HA NE SA SU; AffectNet and RAF-DB use the English names below.
_ALIASES: dict[str, tuple[str, ...]] = {
    "angry": ("angry", "anger", "an", "ang"),
    "disgust": ("disgust", "disgusted", "disgusting", "di", "dis"),
    "fear": ("fear", "fearful", "afraid", "scared", "fe", "af"),
    "happy": ("happy", "happiness", "ha", "hap"),
    "sad": ("sad", "sadness", "sa"),
    "surprise": ("surprise", "surprised", "su", "sur"),
    "neutral": ("neutral", "ne", "neu"),
}
ALIASES: dict[str, int] = {alias: CLASS_TO_ID[name] for name, names in _ALIASES.items() for alias in names}

# Numeric codes, per source.
FER2013_IDS: dict[int, int] = {i: i for i in range(NUM_CLASSES)}  # emotion column 0..6
RAFDB_IDS: dict[int, int] = {  # list_patition_label.txt, basic set: 1..7
    1: CLASS_TO_ID["surprise"], 2: CLASS_TO_ID["fear"], 3: CLASS_TO_ID["disgust"],
    4: CLASS_TO_ID["happy"], 5: CLASS_TO_ID["sad"], 6: CLASS_TO_ID["angry"], 7: CLASS_TO_ID["neutral"],
}

DROP = "drop"  # a user mapping onto this drops the class explicitly


def normalise(name: str) -> str:
    """Fold case and separators: ``"Sad-Face "`` → ``"sad_face"``."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def class_id(name_or_id: str | int) -> int:
    """The canonical id of a canonical class name, alias or id; ``ValueError`` otherwise."""
    if isinstance(name_or_id, int) or str(name_or_id).strip().isdigit():
        i = int(name_or_id)
        if 0 <= i < NUM_CLASSES:
            return i
        raise ValueError(f"class id {i} is outside 0..{NUM_CLASSES - 1}")
    key = normalise(name_or_id)
    if key in ALIASES:
        return ALIASES[key]
    raise ValueError(f"unknown class {name_or_id!r}; the classes are {', '.join(CLASSES)}")


def parse_mapping(items: list[str] | None) -> dict[str, int | None]:
    """Parse ``["joy=happy", "0=angry", "contempt=drop"]`` into ``{source name: id or None}``."""
    mapping: dict[str, int | None] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"label mapping {item!r} must look like SOURCE=CLASS, e.g. joy=happy")
        src, dst = (part.strip() for part in item.split("=", 1))
        if not src or not dst:
            raise ValueError(f"label mapping {item!r} must look like SOURCE=CLASS, e.g. joy=happy")
        mapping[normalise(src)] = None if normalise(dst) in (DROP, "none") else class_id(dst)
    return mapping


@dataclass
class LabelMapper:
    """Maps a source's raw labels onto canonical ids; counts what falls outside the space.

    The user's mapping wins over the alias table. A label that maps nowhere is dropped and
    counted under its raw name, never merged into a neighbour.
    """

    user: dict[str, int | None] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)

    def map(self, raw: str | int | None, codes: dict[int, int] | None = None) -> int | None:
        if raw is None:
            self.dropped["(no label)"] += 1
            return None
        key = normalise(raw)
        if key in self.user:
            label = self.user[key]
        elif codes is not None and key.lstrip("-").isdigit():
            label = codes.get(int(key))
        else:
            label = ALIASES.get(key)
        if label is None:
            self.dropped[str(raw)] += 1
        return label

    def knows(self, raw: str) -> bool:
        """True when a name maps into the space (used to recognise class folders)."""
        key = normalise(raw)
        return (key in self.user and self.user[key] is not None) or key in ALIASES
