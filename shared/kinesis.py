"""The Kinesis record format: KPL aggregation and verified de-aggregation (pure, no I/O; shared.publisher
puts the records).

The record format is the KPL's (github.com/awslabs/amazon-kinesis-producer, aggregation-format.md):
MAGIC + protobuf ``AggregatedRecord`` + MD5(protobuf). Aggregation encodes the protobuf by hand (three
fields, no nesting beyond one level), which is several times faster than building message objects and
lets each record be filled to the byte. De-aggregation parses with aws-kinesis-agg's own generated
classes, verifies the digest, and reports a corrupt aggregate instead of passing it on as a plain record
or printing to stderr as the library does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pybase64 import b64decode as _fast_b64decode

__all__ = [
    "DIGEST_SIZE",
    "MAGIC",
    "MAX_RECORD_BYTES",
    "MAX_USER_RECORDS",
    "WHOLE_RECORD",
    "AggregatedRecord",
    "CorruptRecord",
    "UserRecord",
    "aggregate",
    "deaggregate",
    "deaggregate_one",
    "load_codec",
]

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE = 16
MAX_RECORD_BYTES = 1024 * 1024  # data + partition key of one PutRecords entry
_OVERHEAD = len(MAGIC) + DIGEST_SIZE
# The most user records one aggregate may carry before it is refused whole. The smallest valid error event is
# about 150 bytes, so a full 1 MiB record holds about 7,000; a hostile one of empty records holds 175,000.
MAX_USER_RECORDS = 10_000
WHOLE_RECORD = -1  # the sub-sequence number of a CorruptRecord that is a whole Kinesis record


@functools.cache
def _messages() -> tuple[Any, type[Exception]]:
    """The KPL protobuf classes and protobuf's DecodeError, imported on first use: producers only aggregate (by
    hand, below) and so never pay the protobuf import at cold start (about 0.1x ``import boto3``). Consumers
    call ``load_codec()`` at import, where Lambda's init phase pays for it instead of the first batch."""
    # The generated module does ``import config_pb2`` as a top-level module, which only works with the
    # package folder on sys.path. Put it there for the import alone instead of leaving it there for good.
    import aws_kinesis_agg

    folder = str(Path(aws_kinesis_agg.__file__).parent)
    sys.path.insert(0, folder)
    try:
        messages = importlib.import_module("aws_kinesis_agg.messages_pb2")
    finally:
        sys.path.remove(folder)
    return messages, importlib.import_module("google.protobuf.message").DecodeError


def load_codec() -> None:
    """Import what de-aggregation needs now rather than on the first record (a consumer's handler calls this)."""
    _messages()


# --------------------------------------------------------------------------- de-aggregation


class UserRecord(NamedTuple):
    """One user record out of a Kinesis record (aggregated or plain)."""

    data: bytes
    partition_key: str
    shard_id: str
    sequence_number: str
    sub_sequence_number: int


class CorruptRecord(NamedTuple):
    """A Kinesis record that carries the KPL magic but cannot be read: it goes to dead letters whole (its
    sub-sequence number -1); or one user record of a readable aggregate that cannot be, with its own number."""

    data: bytes
    partition_key: str
    shard_id: str
    sequence_number: str
    reason: str
    sub_sequence_number: int = WHOLE_RECORD


def _b64decode(data: str | bytes) -> bytes:
    """Strict base64, SIMD-decoded (the stdlib's decoder was half of de-aggregation's time).

    pybase64 refuses a few oddities the stdlib tolerates (excess padding); those go to the stdlib, so the
    verdict on every input is the stdlib's. Raises ValueError (binascii.Error) for data that is not base64.
    """
    try:
        return _fast_b64decode(data, validate=True)
    except ValueError:
        return base64.b64decode(data, validate=True)


def deaggregate_one(
    raw: bytes, partition_key: str, shard_id: str, sequence_number: str
) -> list[UserRecord | CorruptRecord] | CorruptRecord:
    """Split one Kinesis record's decoded bytes into its user records, or explain why it is corrupt.

    Never raises on content: whatever the protobuf parser or a hostile index does, the answer is a
    CorruptRecord naming what was wrong, so one record can never fail (and so block) its shard.
    """
    if raw[:4] != MAGIC:
        return [UserRecord(raw, partition_key, shard_id, sequence_number, 0)]
    if len(raw) <= _OVERHEAD:
        return CorruptRecord(raw, partition_key, shard_id, sequence_number, "aggregate shorter than its header")
    body = memoryview(raw)[4:-DIGEST_SIZE]  # a view: the digest and the parser read it without a 1 MiB copy
    if hashlib.md5(body, usedforsecurity=False).digest() != raw[-DIGEST_SIZE:]:  # the KPL format's checksum
        return CorruptRecord(raw, partition_key, shard_id, sequence_number, "aggregate MD5 digest mismatch")
    pb, decode_error = _messages()
    message = pb.AggregatedRecord()
    try:
        message.ParseFromString(body)
    except decode_error as e:
        return CorruptRecord(raw, partition_key, shard_id, sequence_number, f"aggregate protobuf unreadable: {e}")
    except Exception as e:  # the parser's own failures (recursion, memory) are the record's, not the batch's
        return CorruptRecord(raw, partition_key, shard_id, sequence_number, f"aggregate unreadable: {_name(e)}")
    count = len(message.records)
    if count == 0:
        return CorruptRecord(raw, partition_key, shard_id, sequence_number, "aggregate holds no user records")
    if count > MAX_USER_RECORDS:
        # A hostile aggregate of tiny records would otherwise become one dead letter each: one is enough.
        return CorruptRecord(
            raw,
            partition_key,
            shard_id,
            sequence_number,
            f"aggregate holds {count} user records, more than the {MAX_USER_RECORDS} a record can carry",
        )
    keys = message.partition_key_table
    new = tuple.__new__  # what UserRecord(...) calls, without its Python-level __new__ per record
    try:
        fast: list[UserRecord | CorruptRecord] | None = [
            new(UserRecord, (record.data, keys[record.partition_key_index], shard_id, sequence_number, sub))
            for sub, record in enumerate(message.records)
        ]
    except Exception:  # a key index past the table, or one no index can be: record by record below
        fast = None
    if fast is not None:
        return fast
    try:
        return [
            _user_or_corrupt(record, sub, keys, partition_key, shard_id, sequence_number)
            for sub, record in enumerate(message.records)
        ]
    except Exception as e:
        return CorruptRecord(raw, partition_key, shard_id, sequence_number, f"aggregate records unreadable: {_name(e)}")


def _user_or_corrupt(
    record: Any, sub: int, keys: Sequence[str], partition_key: str, shard_id: str, sequence_number: str
) -> UserRecord | CorruptRecord:
    """One user record of a verified aggregate; a bad key index spoils that record alone: its bytes are the
    producer's (the digest says so), so it is dead-lettered by itself and its neighbours go on."""
    data = record.data
    try:
        index = record.partition_key_index
        if 0 <= index < len(keys):
            return UserRecord(data, keys[index], shard_id, sequence_number, sub)
        reason = f"aggregate record {sub} names partition key {index} of {len(keys)}"
    except Exception as e:
        reason = f"aggregate record {sub} unreadable: {_name(e)}"
    return CorruptRecord(data, partition_key, shard_id, sequence_number, reason, sub)


def _name(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def deaggregate(records: Iterable[dict[str, Any]]) -> Iterator[UserRecord | CorruptRecord]:
    """User records of a Lambda Kinesis event's ``Records``, in order; corrupt aggregates as CorruptRecord.

    Never raises on a record's content: a record that cannot be read in any way is one CorruptRecord.
    """
    for record in records:
        try:
            kinesis = record["kinesis"]
            shard_id = str(record.get("eventID", "")).partition(":")[0]
            sequence_number = str(kinesis["sequenceNumber"])
            partition_key = kinesis.get("partitionKey", "")
            partition_key = partition_key if isinstance(partition_key, str) else str(partition_key)
            data = kinesis["data"]
        except Exception as e:  # not the documented shape: Lambda never sends it, a hand-made event might
            yield CorruptRecord(b"", "", "", "", f"record is not a Kinesis event record: {_name(e)}")
            continue
        try:
            raw = _b64decode(data)
        except (ValueError, TypeError):
            yield CorruptRecord(
                data.encode("ascii", "replace") if isinstance(data, str) else b"",
                partition_key,
                shard_id,
                sequence_number,
                "record data is not base64",
            )
            continue
        try:
            result = deaggregate_one(raw, partition_key, shard_id, sequence_number)
        except Exception as e:  # defence in depth: deaggregate_one is written not to raise
            result = CorruptRecord(raw, partition_key, shard_id, sequence_number, f"record unreadable: {_name(e)}")
        if isinstance(result, CorruptRecord):
            yield result
        else:
            yield from result


# --------------------------------------------------------------------------- aggregation


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_len(value: int) -> int:
    n = 1
    while value > 0x7F:
        value >>= 7
        n += 1
    return n


class AggregatedRecord(NamedTuple):
    """One PutRecords entry: a KPL aggregate (or one plain record) and the user records it holds."""

    partition_key: str
    data: bytes
    user_records: int  # how many user records it holds
    indexes: tuple[int, ...]  # positions of its user records in the input


def _finish(keys: list[bytes], records: list[bytes]) -> bytes:
    parts: list[bytes] = []
    for key in keys:
        parts += (b"\x0a", _varint(len(key)), key)
    for rec in records:
        parts += (b"\x1a", _varint(len(rec)), rec)
    body = b"".join(parts)
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()  # the KPL format's checksum


def aggregate(entries: Sequence[tuple[str, bytes]], *, max_bytes: int = MAX_RECORD_BYTES) -> list[AggregatedRecord]:
    """Pack (partition_key, data) user records into as few KPL aggregates as fit ``max_bytes`` each.

    Order is kept. The outer partition key is the first user record's, as the KPL does. A user record
    too large to share an aggregate travels alone, as a plain record, when it fits on its own.
    Raises ValueError for a record that cannot fit in any Kinesis record.
    """
    out: list[AggregatedRecord] = []
    keys: list[bytes] = []
    key_index: dict[bytes, int] = {}
    records: list[bytes] = []
    indexes: list[int] = []
    size = _OVERHEAD  # bytes of the aggregate so far, plus the outer partition key
    outer = ""

    for position, (partition_key, data) in enumerate(entries):
        key = partition_key.encode("utf-8")
        if not 1 <= len(key) <= 256:
            raise ValueError(f"partition key of record {position} must be 1 to 256 bytes, got {len(key)}")
        inner = b"\x08" + _varint(key_index.get(key, len(keys))) + b"\x1a" + _varint(len(data)) + data
        added = 1 + _varint_len(len(inner)) + len(inner)
        if key not in key_index:
            added += 1 + _varint_len(len(key)) + len(key)
        if records and size + added > max_bytes:
            # Full: close this aggregate and start the next with this record (its key index restarts at 0).
            out.append(AggregatedRecord(outer, _finish(keys, records), len(records), tuple(indexes)))
            keys, key_index, records, indexes, size = [], {}, [], [], _OVERHEAD
            inner = b"\x08\x00\x1a" + _varint(len(data)) + data
            added = 1 + _varint_len(len(inner)) + len(inner) + 1 + _varint_len(len(key)) + len(key)
        if not records:
            outer = partition_key
            added += len(key)  # the outer partition key counts against the record limit
            if size + added > max_bytes:
                if len(data) + len(key) > max_bytes:
                    raise ValueError(f"record {position} is {len(data)} bytes, over the Kinesis record limit")
                out.append(AggregatedRecord(partition_key, data, 1, (position,)))
                continue
        if key not in key_index:
            key_index[key] = len(keys)
            keys.append(key)
        records.append(inner)
        indexes.append(position)
        size += added
    if records:
        out.append(AggregatedRecord(outer, _finish(keys, records), len(records), tuple(indexes)))
    return out
