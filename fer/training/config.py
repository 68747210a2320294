"""The training config moved to ``fer.config`` (one typed definition every part of FER Studio
reads); this name stays for scripts written against it."""
from fer.config import *  # noqa: F401,F403
