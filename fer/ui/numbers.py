"""How figures are written on the pages: a share is never "0.0%" for a count that is not zero."""
from __future__ import annotations

import math


def share(x: float | None) -> str:
    """``12.3%``; below 0.1 %, two significant digits (``0.039%``); ``0%`` only for nothing; ``—``
    for no figure."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0%"
    if abs(x) >= 0.001:
        return f"{x:.1%}"
    digits = 1 - math.floor(math.log10(abs(x * 100)))  # two significant digits of the percentage
    return f"{x * 100:.{digits}f}%"
