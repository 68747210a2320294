"""FER Studio: facial emotion recognition, from datasets to a live camera.

Importing ``fer`` is cheap: torch and the other heavy libraries load only in the modules that
need them (``fer.faces``, ``fer.models``, ``fer.training``, ``fer.predict``, ...).
"""
__version__ = "0.1.0"
