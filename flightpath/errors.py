"""The one base class for errors a user can act on (a day outside the data, a drop that breaks the
contract, a refused promotion, a missing key).

The CLI prints such an error as one line and exits 1; anything else is a bug and keeps its
traceback. Stage errors subclass it beside their builtin base (RuntimeError, ValueError), so
existing `except` clauses keep working.
"""

from __future__ import annotations


class FlightpathError(Exception):
    """An error whose message tells the user what to change; no traceback needed."""
