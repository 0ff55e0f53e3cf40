"""Stage progress for a person watching a run, kept apart from the logs.

    with progress.quiet(log_file):     # `flightpath demo` without -v
        ...                            # everything written to stdout/stderr (Airflow, Feast, child
                                       # processes) goes to log_file; only progress lines show
    with progress.stage("train"):      # in a DAG task: "  train ..." then "  train done (16.4 s)"
        ...

Under a real scheduler nobody is watching a terminal: `stage` then only logs, into the task's log.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)

_terminal: TextIO | None = None  # set while `quiet` holds the real stdout/stderr aside


def say(line: str) -> None:
    """One progress line: on the terminal during `quiet`, else in the log."""
    if _terminal is not None:
        _terminal.write(line + "\n")
        _terminal.flush()
    else:
        log.info(line.strip())


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    say(f"  {name} ...")
    try:
        yield
    except BaseException:
        say(f"  {name} FAILED after {time.perf_counter() - started:.1f} s")
        raise
    say(f"  {name} done ({time.perf_counter() - started:.1f} s)")


@contextmanager
def quiet(log_file: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 to `log_file` (appending) and keep the terminal for `say`.

    At the descriptor level, so it also catches what libraries write through their own handles and
    what child processes inherit. The terminal comes back when the block ends, failed or not.
    """
    global _terminal
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _terminal = os.fdopen(os.dup(saved_err), "w")
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        _terminal.close()
        _terminal = None
