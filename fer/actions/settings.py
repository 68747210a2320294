"""The settings: saved to ``settings.toml`` (environment variables still win when they are read)."""
from __future__ import annotations

from pathlib import Path

from fer import settings as fer_settings
from fer.actions.core import Entry, action
from fer.store import layout


@action("settings.save", "change the settings", lambda new: layout.SETTINGS)
def save(entry: Entry, new: fer_settings.Settings) -> Path:
    try:
        old = fer_settings.load().to_toml()
    except ValueError:  # a file that cannot be read: what it held is unknown
        old = None
    new_values = new.to_toml()
    entry.replaced = {"settings": old}
    entry.detail = {"changed": sorted(k for k in new_values if old is None or old.get(k) != new_values[k])}
    return fer_settings.save(new)
