"""Which Prometheus multiprocess directory a serving process may use: only the server's own.

Imported by the entry points before anything imports prometheus_client, which picks its value
storage once, at import, from these variables.

Why: importing `feast.metrics` (Feast 0.67) points PROMETHEUS_MULTIPROC_DIR and
PROMETHEUS_MULTIPROCESS_DIR at a temp dir of Feast's own and deletes it when that process exits.
A process that read features through Feast and then started the service (`flightpath tour`, a
notebook, a test) handed that directory down: the service's processes kept their metrics in
someone else's temp dir, and one starting after the parent exited died opening a file there.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the name prometheus_client reads
LEGACY_MULTIPROC_ENV = "PROMETHEUS_MULTIPROCESS_DIR"  # the older name, also read (and set by Feast)
# Ours, set by serving.server next to MULTIPROC_ENV when it runs several workers.
SERVING_MULTIPROC_ENV = "FLIGHTPATH_METRICS_MULTIPROC_DIR"


def drop_foreign_multiproc_dir(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Remove multiprocess directories the server did not set itself; return what was removed."""
    ours = environ.get(SERVING_MULTIPROC_ENV)
    dropped = []
    for name in (MULTIPROC_ENV, LEGACY_MULTIPROC_ENV):
        value = environ.get(name)
        if value is not None and value != ours:
            dropped.append(f"{name}={environ.pop(name)}")
    return dropped
