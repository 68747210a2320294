"""Actions: every change the pages and the command line make to the store, one function each,
taken by an actor (``Actor``: the local user of a server on localhost, a signed-in user, an
anonymous visitor, the operating-system user of the command line), allowed or refused in one
place (``fer.actions.core``: a visitor changes nothing) and recorded in the activity log
(``fer.store.activity``) either way.

Each is ``module.function(actor, ...)``: ``datasets`` (upload, import, reimport, align, rename,
delete), ``decisions`` (keep / exclude / back to undecided, one image or many; undo any of them),
``runs`` (start, cancel, resume, restart, rename, delete), ``sweeps`` (start, cancel, promote the
best), ``videos`` (an analysis), ``evaluations`` (an evaluation), ``models`` (promote, restore,
rename, delete, import, ensemble) and ``settings`` (save). ``ACTIONS`` lists them all by name.
"""
from fer.actions import datasets, decisions, evaluations, history, models, runs, settings, sweeps, videos  # noqa: F401,E501
from fer.actions.actor import Actor, Refused  # noqa: F401
from fer.actions.core import ACTIONS, Action  # noqa: F401
