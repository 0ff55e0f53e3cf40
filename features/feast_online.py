"""Feast's own online read path (`FeatureStore.get_online_features`): the reference the fast reader
(features/fast_online.py, which serving uses) is tested against, and the benchmark's Feast row.

    reader = OnlineFeatureReader(settings)            # cheap: Feast is imported on first read
    [feats] = reader.read([{"origin": "JFK", "tailnum": "N619AA", "carrier": "AA"}])
"""

from __future__ import annotations

import threading
from typing import Any

from features.online import (
    PROJECT,
    OnlineFeatures,
    OnlineStoreUnavailable,
    PingByReading,
    _connection_errors,
    entity_rows,
    parse_response,
)
from flightpath.settings import Settings


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    """Connection errors, plus a registry without our feature service (not applied yet)."""
    from feast.errors import FeastObjectNotFoundException

    return (FeastObjectNotFoundException, *_connection_errors())


class OnlineFeatureReader(PingByReading):
    """Reads the feature service's features online; one instance per serving process."""

    def __init__(self, settings: Settings, project: str = PROJECT) -> None:
        self._settings = settings
        self._project = project
        self._store: Any = None
        self._service: Any = None
        self._lock = threading.Lock()

    def _open(self) -> tuple[Any, Any]:
        """The store and its feature service, resolved once (the registry read is the slow part)."""
        with self._lock:
            if self._store is None:
                from features.store import feature_store

                store = feature_store(self._settings, self._project, fail_fast=True)
                try:
                    self._service = store.get_feature_service(self._settings.feature_service)
                except _unavailable_errors() as exc:
                    raise OnlineStoreUnavailable(
                        f"feature service {self._settings.feature_service!r} is not in the registry at "
                        f"{self._settings.feast_dir}: apply the feature repo first ({exc})"
                    ) from exc
                self._store = store
        return self._store, self._service

    def read(self, entities: list[dict[str, str | None]]) -> list[OnlineFeatures]:
        """Store features for each entity ({"origin", "tailnum", "carrier"}), in order.

        Raises:
            OnlineStoreUnavailable: the store cannot be reached (e.g. Redis down).
            ValueError: an entity lacks origin or carrier.
        """
        if not entities:
            return []
        rows = entity_rows(entities)
        store, service = self._open()
        try:
            response = store.get_online_features(features=service, entity_rows=rows, full_feature_names=False)
        except _connection_errors() as exc:
            kind = self._settings.online_store
            raise OnlineStoreUnavailable(f"{kind} online store unreachable: {exc}") from exc
        return parse_response(response.to_dict(include_event_timestamps=True), len(rows))
