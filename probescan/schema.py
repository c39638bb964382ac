"""The JSON shape of probescan's records, stated once.

Three records leave probescan as JSON (JSON Lines, the SQLite store, the report's input):

* the endpoint record, `ServiceRecord.to_dict()` (probescan/model.py, docs/output.md), with
  its TLS object (`TlsInfo.to_dict()`) and evidence (`Evidence.to_dict()`);
* the flow record, `FlowRecord.to_dict()` (probescan/watch/label.py, docs/watch.md), whose
  `probes.server` / `probes.client` are endpoint records;
* the scan record, `ScanRecord.to_dict()` (probescan/scans/record.py, docs/output.md):
  what one scanning source, /24 or AS did.

`ENDPOINT`, `FLOW` and `SCAN` below list every field in the order the writers write it, with its
kind and whether it may be null. The writers stay hand-written (they run for every record
of a scan or a capture); tests/test_schema.py holds them to these shapes with `mismatches`.
The report's input checks (probescan/report/schema.py) are generated from the same shapes,
together with what a reader needs beyond the writer's view: which fields a record must
have (`required`), the value a missing field gets (`default`), the fields only readers know
(`written=False`) and those the report drops (`report=False`).

Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """What a field holds; the values read after "is not"."""

    TAG = "the record's kind (a fixed string: the field's default)"
    STR = "a string"
    INT = "an integer"
    NUMBER = "a number"
    PORT = "an integer 0..65535"
    BOOL = "true or false"
    TIME = "a time in seconds since 1970 (a number)"
    STRINGS = "a list of strings"
    INTS = "a list of integers"
    NOTES = "a list of strings (readers show any other item as JSON text)"
    NUMBERS = "an object of numbers"
    FACTS = "an object of any JSON values (open-ended)"
    OBJECT = "an object of the field's shape"
    OBJECTS = "a list of objects of the field's shape"
    RECORD = "an endpoint record (the field's shape) without 'kind'"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    null: bool = False  # writers may write null
    required: bool = False  # readers refuse a record without it; a STR must not be empty
    default: object = None  # readers: what a missing or null STR / INT gets; TAG: the tag
    shape: Shape | None = None  # OBJECT, OBJECTS, RECORD: what is inside
    written: bool = True  # False: readers take it, the writer does not write it
    report: bool = True  # False: written, but the report drops it when reading


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    fields: tuple[Field, ...]

    def written(self) -> tuple[str, ...]:
        """The writer's keys, in its order."""
        return tuple(f.name for f in self.fields if f.written)

    def tag(self) -> str | None:
        """The value of the shape's `kind` field (TAG), None for a shape without one."""
        return next((str(f.default) for f in self.fields if f.kind is Kind.TAG), None)


def _strs(*names: str, null: bool = True) -> tuple[Field, ...]:
    return tuple(Field(name, Kind.STR, null=null) for name in names)


EVIDENCE = Shape("evidence", (
    Field("probe", Kind.STR),
    *_strs("fingerprint", "source", "tunnel"),
    Field("raw", Kind.STR),  # the first bytes, escaped (model.escape_bytes)
))

TLS = Shape("tls", (
    *_strs("version", "cipher", "alpn", "subject", "issuer"),
    Field("sans", Kind.STRINGS),
    *_strs("not_before", "not_after", "serial", "sha256"),
    Field("self_signed", Kind.BOOL, null=True),
    Field("jarm", Kind.STR, null=True),
))

ENDPOINT = Shape("endpoint record", (
    Field("kind", Kind.TAG, default="endpoint", written=False, report=False),
    Field("ip", Kind.STR, required=True),
    Field("hostname", Kind.STR, null=True),
    Field("port", Kind.PORT, required=True),
    Field("transport", Kind.STR, required=True),
    Field("state", Kind.STR, required=True),
    Field("reason", Kind.STR, null=True),
    *_strs("service", "product", "version", "info", "host", "os", "device"),
    Field("cpe", Kind.STRINGS),
    Field("tunnel", Kind.STR, null=True),
    Field("tls", Kind.OBJECT, null=True, shape=TLS),
    Field("method", Kind.STR, default="none"),
    Field("confidence", Kind.INT, default=0),
    Field("evidence", Kind.OBJECTS, shape=EVIDENCE),
    Field("unmatched", Kind.OBJECTS, shape=EVIDENCE),
    Field("timings", Kind.NUMBERS, report=False),
    Field("error", Kind.STR, null=True),
    Field("anomalies", Kind.NOTES, written=False),
))

ADDRESS = Shape("address", (
    Field("ip", Kind.STR, required=True),
    Field("port", Kind.PORT, required=True),
))

COUNTS = Shape("counts", (Field("c2s", Kind.INT), Field("s2c", Kind.INT)))

PASSIVE = Shape("passive", (
    *_strs("fingerprint", "source", "as_reply_to", "protocol"),
    Field("client", Kind.FACTS),
    Field("server", Kind.FACTS),
    Field("detected", Kind.FACTS, null=True),
    *_strs("client_raw", "server_raw", null=False),
))

PROBES = Shape("probes", (
    Field("server", Kind.RECORD, null=True, shape=ENDPOINT),
    Field("client", Kind.RECORD, null=True, shape=ENDPOINT),
    Field("queued", Kind.STRINGS),
))

STATISTICAL = Shape("statistical", (
    Field("profile", Kind.STR),  # the protocol most of the profiles' trees vote for
    Field("named", Kind.BOOL),  # did it name the flow (else: `why`)
    Field("why", Kind.STR, null=True),
    Field("score", Kind.NUMBER),  # the share of the trees that vote for it
    Field("min_score", Kind.NUMBER),  # the share needed to name the flow
    Field("runner_up", Kind.STR, null=True),  # the protocol with the next most votes
    Field("runner_up_score", Kind.NUMBER, null=True),
    Field("other_score", Kind.NUMBER),  # the share for protocols without a profile
    Field("outside", Kind.STRINGS),  # features beyond the profile's ranges
    Field("beyond", Kind.NUMBER),  # how far beyond, summed (shares of each feature's span)
    Field("pooled", Kind.INT),  # earlier flows of the same server endpoint pooled with it
    Field("profile_flows", Kind.INT),
    Field("profile_captures", Kind.INT),
    Field("example", Kind.INTS),  # sizes of a flow it was learnt from (+ client, - server)
    Field("c2s", Kind.INTS),  # the profile's size histograms, per mille (classify/features.py)
    Field("s2c", Kind.INTS),
))

SIGNATURE = Shape("signature", (
    Field("name", Kind.STR),  # the behaviour signature (profiles/signatures.toml)
    Field("service", Kind.STR),
    Field("spec", Kind.STR),  # the specification its addresses or sizes come from
    Field("confidence", Kind.INT),
))

BEHAVIOUR = Shape("behaviour", (
    Field("class", Kind.STR),  # control, chatter, file transfer, failed attempt
    Field("sizes", Kind.INTS),  # the first payload packets' sizes: + client, - server
    Field("c2s", Kind.INTS),  # their histograms (counts over classify.features.SIZE_BINS)
    Field("s2c", Kind.INTS),
    # entropy and bit balance of the first messages (flows the statistical layer compared)
    Field("first_bytes", Kind.NUMBERS, report=False),
    Field("statistical", Kind.OBJECT, null=True, shape=STATISTICAL),
    # the behaviour signature that named a flow whose payload was not captured
    Field("signature", Kind.OBJECT, null=True, shape=SIGNATURE),
))

FLOW = Shape("flow record", (
    Field("kind", Kind.TAG, default="flow"),
    Field("id", Kind.INT),
    Field("transport", Kind.STR, required=True),
    Field("client", Kind.OBJECT, required=True, shape=ADDRESS),
    Field("server", Kind.OBJECT, required=True, shape=ADDRESS),
    Field("roles", Kind.STR),
    Field("midstream", Kind.BOOL),
    Field("vlan", Kind.INT, null=True),
    Field("first_seen", Kind.TIME),
    Field("last_seen", Kind.TIME),
    Field("labeled_at", Kind.TIME, report=False),
    Field("packets", Kind.OBJECT, shape=COUNTS),
    Field("bytes", Kind.OBJECT, shape=COUNTS),
    Field("service", Kind.STR),
    *_strs("product", "version", "info"),
    Field("tunnel", Kind.STR, null=True, report=False),
    Field("cpe", Kind.STRINGS),
    Field("confidence", Kind.INT, default=0),
    Field("method", Kind.STR, default="none"),
    Field("decided_by", Kind.STR, null=True),  # the layer (probescan/classify/layers.py)
    Field("conflicts", Kind.NOTES),
    Field("anomalies", Kind.NOTES),
    Field("announced_by", Kind.INT, null=True, report=False),
    Field("behaviour", Kind.OBJECT, shape=BEHAVIOUR),
    Field("passive", Kind.OBJECT, shape=PASSIVE),
    Field("probes", Kind.OBJECT, shape=PROBES),
))

SOURCE = Shape("source", (
    Field("ip", Kind.STR, null=True),  # null for a grouped scan: see `members`
    Field("group", Kind.STR),
    Field("asn", Kind.INT, null=True),
    Field("as_name", Kind.STR, null=True),
))

TELL = Shape("tell", (
    Field("tell", Kind.STR),
    Field("packets", Kind.INT),
    Field("of", Kind.INT),
))

TOOL_EVIDENCE = Shape("tool evidence", (
    Field("certainty", Kind.STR, default="none"),
    Field("tells", Kind.OBJECTS, shape=TELL),
))

TARGETS = Shape("targets", (
    Field("count", Kind.INT, default=0),
    Field("estimated", Kind.BOOL),
    Field("sample", Kind.STRINGS),
))

PORT_PROBES = Shape("port", (
    Field("port", Kind.PORT, required=True),
    Field("transport", Kind.STR, required=True),
    Field("probes", Kind.INT, default=0),
))

PORTS = Shape("ports", (
    Field("count", Kind.INT, default=0),
    Field("sample", Kind.STRINGS),
    Field("top", Kind.OBJECTS, shape=PORT_PROBES),
))

SCAN = Shape("scan record", (
    Field("kind", Kind.TAG, default="scan"),
    Field("id", Kind.INT),
    Field("source", Kind.OBJECT, shape=SOURCE),
    Field("grouping", Kind.STR, default="source"),
    Field("members", Kind.STRINGS),
    Field("type", Kind.STR, required=True),
    Field("types", Kind.NUMBERS),
    Field("shape", Kind.STR, required=True),
    Field("tool", Kind.STR, default="unknown"),
    Field("tool_evidence", Kind.OBJECT, shape=TOOL_EVIDENCE),
    Field("targets", Kind.OBJECT, shape=TARGETS),
    Field("ports", Kind.OBJECT, shape=PORTS),
    Field("first_seen", Kind.TIME),
    Field("last_seen", Kind.TIME),
    Field("packets", Kind.INT, default=0),
    Field("attempts", Kind.INT, default=0),
    Field("rate", Kind.NUMBER),
    Field("replies", Kind.NUMBERS),
    Field("detected_by", Kind.STR),
))

RECORDS = (ENDPOINT, FLOW, SCAN)


def mismatches(shape: Shape, data: object, where: str = "") -> list[str]:
    """How a written object departs from `shape`: its keys (in order) and every value's kind.

    Empty when `data` is what the writer of `shape` should write.
    """
    if type(data) is not dict:
        return [f"{where or shape.name}: not an object"]
    out: list[str] = []
    if tuple(data) != shape.written():
        out.append(f"{where or shape.name}: keys {list(data)}, expected {list(shape.written())}")
    for f in shape.fields:
        if f.written and f.name in data:
            out += _value_mismatches(f, data[f.name], f"{where}{f.name}")
    return out


def _value_mismatches(f: Field, value: object, where: str) -> list[str]:
    if value is None:
        return [] if f.null else [f"{where}: null"]
    kind, shape = f.kind, f.shape
    if kind in (Kind.OBJECT, Kind.RECORD) and shape is not None:
        return mismatches(shape, value, f"{where}.")
    if kind is Kind.OBJECTS and shape is not None:
        if type(value) is not list:
            return [f"{where}: not a list"]
        return [m for i, v in enumerate(value) for m in mismatches(shape, v, f"{where}[{i}].")]
    ok: bool
    match kind:
        case Kind.TAG:
            ok = value == f.default
        case Kind.STR:
            ok = type(value) is str and (bool(value) or not f.required)
        case Kind.INT:
            ok = type(value) is int
        case Kind.NUMBER:
            ok = type(value) is int or type(value) is float
        case Kind.INTS:
            ok = type(value) is list and all(type(v) is int for v in value)
        case Kind.PORT:
            ok = type(value) is int and 0 <= value <= 65535
        case Kind.BOOL:
            ok = type(value) is bool
        case Kind.TIME:
            ok = type(value) is int or type(value) is float
        case Kind.STRINGS | Kind.NOTES:
            ok = type(value) is list and all(type(v) is str for v in value)
        case Kind.NUMBERS:
            ok = type(value) is dict and all(
                type(k) is str and type(v) in (int, float) for k, v in value.items())
        case Kind.FACTS:
            ok = type(value) is dict and all(type(k) is str for k in value)
        case _:
            ok = False
    return [] if ok else [f"{where}: {value!r} is not {kind.value}"]
