"""Our online-store byte functions (features/online_encoding.py) against Feast's own, over every
view and many keys and values: the serving worker reads Feast's store without Feast, so any
difference here would be a silently missing or wrong feature.

Feast is imported inside the tests, never at collection: importing it switches prometheus_client
to multiprocess mode for the whole pytest process (feast.metrics), which serving's metrics tests
must not inherit.
"""

from __future__ import annotations

import math
import random
import sqlite3
import struct

import pytest

from features import contract, fast_online
from features.online_encoding import (
    decode_value,
    entity_key,
    murmur3_32,
    redis_field,
    table_name,
    timestamp_seconds,
)
from features.store import PROJECT, feature_store
from flightpath.settings import Settings

rng = random.Random(2013)
KEY_VALUES = [
    "", "EWR", "JFK", "LGA", "UA", "N14228", "NO_TAILNUM", "JFK-LAX", "EWR@2013-03-20T04", "ü", "✈️",
    "x" * 300, *("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-@:") for _ in range(rng.randint(1, 40)))
                 for _ in range(200)),
]  # fmt: skip


@pytest.mark.parametrize("join_key", sorted({k for keys in contract.VIEW_JOIN_KEYS.values() for k in keys}))
def test_entity_keys_are_feasts_bytes(join_key: str) -> None:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    for value in KEY_VALUES:
        proto = EntityKey(join_keys=[join_key], entity_values=[Value(string_val=value)])
        assert entity_key(join_key, value) == serialize_entity_key(proto, entity_key_serialization_version=3)


def test_redis_fields_are_feasts_murmur3_for_every_feature_and_every_tail_length() -> None:
    from feast.infra.online_stores.helpers import _mmh3

    for view, names in contract.FEATURE_VIEWS.items():
        for name in names:
            assert redis_field(view, name) == _mmh3(f"{view}:{name}"), (view, name)
    for n in range(40):  # every length mod 4: the hash's tail handling
        text = "".join(rng.choice("abc:_XYZ019é") for _ in range(n))
        assert struct.pack("<I", murmur3_32(text.encode())) == _mmh3(text), text


def test_table_names_are_feasts(feature_store_home: Settings) -> None:
    from feast.infra.online_stores.helpers import compute_table_id

    store = feature_store(feature_store_home)
    for view in contract.FEATURE_VIEWS:
        assert table_name(PROJECT, view) == compute_table_id(PROJECT, store.get_feature_view(view))


# (Value field, value) pairs; ("", None) is a Value with no field set, ("null_val", None) Feast's NULL.
VALUES = [("double_val", v) for v in (0.0, -0.0, 1.5, -1e300, 5e-324, math.inf, -math.inf, math.nan, 341.0)] + [
    ("float_val", 2.5), ("float_val", -1e30),
    ("int64_val", 0), ("int64_val", -1), ("int64_val", 2**63 - 1), ("int64_val", -(2**63)),
    ("int32_val", -7), ("int32_val", 2**31 - 1), ("bool_val", True), ("bool_val", False),
    ("string_val", "JFK ✈"), ("bytes_val", b"\x00\xff"), ("unix_timestamp_val", 1363752000),
    ("unix_timestamp_val", -(2**63)), ("null_val", None), ("", None),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), VALUES, ids=lambda v: repr(v)[:30])
def test_values_decode_as_feast_decodes_them(field: str, value: object) -> None:
    from feast.protos.feast.types.Value_pb2 import Null, Value
    from feast.type_map import feast_value_type_to_python_type

    proto = Value(null_val=Null.NULL) if field == "null_val" else Value(**({field: value} if field else {}))
    ours, feasts = decode_value(proto.SerializeToString()), feast_value_type_to_python_type(proto)
    if isinstance(feasts, float) and math.isnan(feasts):
        assert isinstance(ours, float) and math.isnan(ours)
    else:
        assert ours == feasts and type(ours) is type(feasts), (ours, feasts)


def test_a_value_type_outside_our_contract_is_an_error_not_a_silent_none() -> None:
    from feast.protos.feast.types.Value_pb2 import DoubleList, Value

    with pytest.raises(ValueError, match="not a scalar"):
        decode_value(Value(double_list_val=DoubleList(val=[1.0])).SerializeToString())


@pytest.mark.parametrize("seconds", [0, 1, 1363752000, 2**40, -1, -(2**40)])
def test_timestamps_decode_as_protobuf_does(seconds: int) -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    raw = Timestamp(seconds=seconds, nanos=123).SerializeToString()
    assert timestamp_seconds(raw) == Timestamp.FromString(raw).seconds
    assert timestamp_seconds(b"") == 0 and timestamp_seconds(None) == 0


def test_every_value_in_the_materialized_store_decodes_as_feast_decodes_it(feature_store_home: Settings) -> None:
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import feast_value_type_to_python_type

    count = 0
    with sqlite3.connect(feature_store_home.feast_dir / "online.db") as conn:
        for view in contract.FEATURE_VIEWS:
            for (raw,) in conn.execute(f'SELECT value FROM "{table_name(PROJECT, view)}"'):
                feasts = feast_value_type_to_python_type(Value.FromString(raw))
                ours = decode_value(raw)
                assert ours == feasts or (math.isnan(ours) and math.isnan(feasts)), (view, ours, feasts)  # type: ignore[arg-type]
                count += 1
    assert count > 1000


def test_the_contracts_views_are_the_registrys(feature_store_home: Settings) -> None:
    """The fast reader takes views, join keys and features from the contract; the registry Feast
    applied must say the same (a view renamed or a feature added on one side only fails here)."""
    store = feature_store(feature_store_home)
    service = store.get_feature_service(feature_store_home.feature_service)
    registry = {
        p.name_to_use(): (tuple(store.get_feature_view(p.name).join_keys), tuple(f.name for f in p.features))
        for p in service.feature_view_projections
    }
    ours = {v.name: ((v.join_key,), v.features) for v in fast_online.contract_views(PROJECT)}
    assert ours == registry
