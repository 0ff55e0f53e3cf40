"""The bytes of Feast's online store, read without Feast: entity keys, Redis field names, values.

    entity_key("origin", "JFK")            # the key Feast writes (entity_key_serialization_version 3)
    redis_field("weather_at_origin", "wx_temp")
    decode_value(raw)                      # a serialized feast.types.Value -> float | int | str | ...
    timestamp_seconds(raw)                 # a serialized google.protobuf.Timestamp -> whole seconds

Why our own: Feast (with pandas, pyarrow, duckdb and its registry machinery) costs a serving worker
hundreds of MB and its import time, to do a few lines of byte work per read. Every function here
must give exactly what Feast gives for the same input; tests/features/test_online_encoding.py
checks each against Feast's own function over every view and many keys and values (the tests may
import Feast; this module may not). Nothing here imports protobuf either: the two messages are
decoded from their wire format, which protobuf guarantees stable.
"""

from __future__ import annotations

import datetime as dt
import struct

ENTITY_KEY_SERIALIZATION_VERSION = 3
_STRING = 2  # feast.types.ValueType.STRING

# feast.types.Value field numbers of the scalar types our views store (Value.proto). A list, map
# or JSON value has no place in our contract: decoding one is an error, not a silent None.
_BYTES, _STRING_VAL, _INT32, _INT64, _DOUBLE, _FLOAT, _BOOL, _UNIX_TS, _NULL = 1, 2, 3, 4, 5, 6, 7, 8, 19
_NULL_TIMESTAMP = -(2**63)  # feast.type_map.NULL_TIMESTAMP_INT_VALUE: a timestamp that means "none"


def entity_key(join_key: str, value: str) -> bytes:
    """Feast's serialized entity key (v3) for one string join key: the online store's row key."""
    key, val = join_key.encode(), value.encode()
    return struct.pack("<III", 1, _STRING, len(key)) + key + struct.pack("<II", _STRING, len(val)) + val


def table_name(project: str, view: str) -> str:
    """The SQLite online table of a view (Feast's compute_table_id, view versioning off)."""
    return f"{project}_{view}"


def redis_field(view: str, feature: str) -> bytes:
    """The Redis hash field of a feature: Feast's _mmh3(f"{view}:{feature}"), 4 bytes little-endian."""
    return struct.pack("<I", murmur3_32(f"{view}:{feature}".encode()))


def redis_timestamp_field(view: str) -> bytes:
    return f"_ts:{view}".encode()


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, unsigned (what `mmh3.hash(key, signed=False)` returns)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    blocks = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[: blocks * 4]):
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[blocks * 4 :]
    k = 0
    for i, byte in enumerate(tail):
        k |= byte << (8 * i)
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) for every field of a message, in order: an int for a varint, the raw
    bytes for fixed-width and length-delimited fields."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):  # fixed 64 / fixed 32
            size = 8 if wire == 1 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {number})")
        if pos > len(data):
            raise ValueError("truncated protobuf message")
        out.append((number, value))
    return out


def decode_value(raw: bytes | None) -> float | int | str | bytes | bool | dt.datetime | None:
    """A serialized feast.types.Value -> its Python value, as Feast's feast_value_type_to_python_type.

    Empty bytes or no field set: None (Feast's answer for a key it did not find). Two of Feast's
    answers kept as they are, though our views store neither: a unix timestamp becomes an aware UTC
    datetime, and null_val becomes 0 (the enum's value, which Feast returns).
    """
    fields = _fields(raw) if raw else []
    if not fields:
        return None
    number, value = fields[-1]  # a oneof: the last one on the wire wins, as in protobuf
    if isinstance(value, int):  # varint fields
        if number == _INT64:
            return _signed(value, 64)
        if number == _UNIX_TS:
            seconds = _signed(value, 64)
            return None if seconds == _NULL_TIMESTAMP else dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        if number == _INT32:
            return _signed(value, 32)
        if number == _BOOL:
            return bool(value)
        if number == _NULL:
            return 0
    elif number == _DOUBLE:
        return float(struct.unpack("<d", value)[0])
    elif number == _FLOAT:
        return float(struct.unpack("<f", value)[0])
    elif number == _STRING_VAL:
        return value.decode("utf-8")
    elif number == _BYTES:
        return value
    raise ValueError(f"feast Value field {number} is not a scalar this reader decodes")


def timestamp_seconds(raw: bytes | None) -> int:
    """A serialized google.protobuf.Timestamp -> its `seconds` (0 when absent, as Feast reports)."""
    if not raw:
        return 0
    seconds = 0
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, int):
            seconds = _signed(value, 64)
    return seconds
