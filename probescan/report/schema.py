"""The report's input checks: a record in, a checked and completed record out.

`check_record` takes an endpoint record (docs/output.md), a flow record (`"kind": "flow"`) or
a scan record (`"kind": "scan"`) as JSON gives it and returns a `CheckedRecord` /
`CheckedFlow` / `CheckedScan`, or raises
`ReportInputError`, whose text is one line naming the file and line. The checks are made
from the record shapes of probescan/schema.py (the fields the writers write), once, when
this module is imported: one small function per field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from probescan.schema import ENDPOINT, FLOW, SCAN, Field, Kind, Shape


class ReportInputError(Exception):
    """Input that cannot be reported on; `str()` is one line: `FILE[:LINE]: problem`.

    `line` is a line number (JSON Lines), a place in a store (`flows row 3`) or None.
    """

    def __init__(self, source: str, problem: str, line: int | str | None = None) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {problem}")


class CheckedRecord(dict[str, Any]):
    """An endpoint record that check_record made: render_report does not check it again."""


class CheckedFlow(dict[str, Any]):
    """A flow record that check_record made (`"kind": "flow"`)."""


class CheckedScan(dict[str, Any]):
    """A scan record that check_record made (`"kind": "scan"`)."""


def scan_records(records: Iterable[dict[str, Any]]) -> list[CheckedScan]:
    """The scan records among checked records, in order."""
    return [r for r in records if type(r) is CheckedScan]


def split_records(
    records: Iterable[dict[str, Any]],
) -> tuple[list[CheckedRecord], list[CheckedFlow]]:
    """Checked records -> (endpoint records, flow records).

    Endpoints: one per (ip, port, transport), the last one met, an endpoint nested in a
    flow's probes counting at its flow's place; in the order of their last meeting. Flows:
    all, in order. Scan records are left out (`scan_records` takes them).
    """
    by_endpoint: dict[tuple[str, int, str], CheckedRecord] = {}

    def put(record: CheckedRecord) -> None:
        key = (record["ip"], record["port"], record["transport"])
        by_endpoint.pop(key, None)  # re-insert: keep the order of the last reading
        by_endpoint[key] = record

    flows: list[CheckedFlow] = []
    for record in records:
        if type(record) is CheckedFlow:
            flows.append(record)
            probes = record["probes"]
            for side in ("server", "client"):
                if probes[side] is not None:
                    put(probes[side])
        elif type(record) is CheckedRecord:
            put(record)
        elif type(record) is CheckedScan:
            continue
        else:
            raise TypeError("split_records takes what check_record returns")
    return list(by_endpoint.values()), flows


_LAST_TIME = 253402300800  # 10000-01-01T00:00:00Z: times must be before it

Fail = Callable[[str], ReportInputError]
# A field's check: (its value or None when missing, fail, the record's origin) -> the value
# the report keeps (a missing field gets its empty value).
Check = Callable[[object, Fail, str], Any]
RecordCheck = Callable[[dict[str, Any], Fail, str], dict[str, Any]]


def check_record(data: object, source: str, where: int | str) -> dict[str, Any]:
    """A record checked and completed: an endpoint record or a flow record.

    A record with `"kind": "flow"` is a flow record (FlowRecord.to_dict() of
    probescan/watch/label.py); one without `kind` is an endpoint record (docs/output.md).
    Endpoint records need `ip`, `port`, `transport` and `state`; flow records `client` and
    `server` (each `{"ip", "port"}`) and `transport`. Every other field may be missing (older
    or newer writers) and gets its empty value; fields the report does not show (`timings`)
    are dropped. A field of the wrong type is an error. Strings are kept as they are: the
    page makes control and bidi characters visible when it shows them.
    """
    if type(data) is CheckedRecord or type(data) is CheckedFlow or type(data) is CheckedScan:
        return data

    def fail(problem: str) -> ReportInputError:
        return ReportInputError(source, problem, where)

    if not isinstance(data, dict):
        raise fail("not a JSON object")
    kind = data.get("kind")
    if kind == _FLOW_TAG:
        return _check_flow(data, fail, f"{source}:{where}")
    if kind == _SCAN_TAG:
        return _check_scan(data, fail, f"{source}:{where}")
    if kind is not None and kind != _ENDPOINT_TAG:
        shown = json.dumps(kind)  # quoted, control characters escaped
        raise fail(f"unknown record kind {shown if len(shown) <= 40 else shown[:40] + '...'}")
    return _check_endpoint(data, fail, f"{source}:{where}")


def _record_check(shape: Shape, noun: str, cls: type[dict[str, Any]]) -> RecordCheck:
    """A whole record: its required fields first (`NOUN has no 'ip'`), then every field the
    report keeps, in the shape's order, then `origin` (given, or where it was read)."""
    required = tuple(f.name for f in shape.fields if f.required)
    checks = _field_checks(shape, "")

    def check(data: dict[str, Any], fail: Fail, origin: str) -> dict[str, Any]:
        get = data.get
        for name in required:
            if get(name) is None:
                raise fail(f"{noun} has no {name!r}")
        out = cls()
        for name, field_check in checks:
            out[name] = field_check(get(name), fail, origin)
        given = get("origin")
        out["origin"] = given if type(given) is str else origin
        return out

    return check


def _field_checks(shape: Shape, prefix: str) -> tuple[tuple[str, Check], ...]:
    return tuple((f.name, _check_for(f, prefix + f.name)) for f in shape.fields if f.report)


def _check_for(f: Field, label: str) -> Check:
    """The check of one field; `label` names it in messages (`tls.sans`)."""
    name = repr(label)
    default = f.default
    match f.kind:
        case Kind.TAG:
            return lambda value, fail, origin: default
        case Kind.STR if f.required:
            return _non_empty_check(f"{name} must be a non-empty string")
        case Kind.STR:
            return _type_check(str, default, f"{name} must be a string or null")
        case Kind.INT:
            return _type_check(int, default, f"{name} must be an integer"
                               + (" or null" if default is None else ""))
        case Kind.NUMBER:
            return _number_check(f"{name} must be a number or null")
        case Kind.NUMBERS:
            return _numbers_check(f"{name} must be an object of numbers")
        case Kind.PORT:
            return _port_check(f"{name} must be an integer 0..65535")
        case Kind.BOOL:
            return _type_check(bool, None, f"{name} must be true, false or null")
        case Kind.TIME:
            return _time_check(name)
        case Kind.STRINGS:
            return _list_check(str, f"{name} must be a list of strings")
        case Kind.INTS:
            return _list_check(int, f"{name} must be a list of integers")
        case Kind.NOTES:
            return _notes_check(name)
        case Kind.FACTS:
            return _facts_check(name)
        case Kind.OBJECT if f.shape is not None:
            return _object_check(f, f.shape, label)
        case Kind.OBJECTS if f.shape is not None:
            return _objects_check(f.shape, label)
        case Kind.RECORD if f.shape is not None:
            return _nested_record_check(f.shape, label)
    raise ValueError(f"the report cannot read {label!r} ({f.kind.name})")


def _type_check(kind: type, default: object, message: str) -> Check:
    """A scalar of exactly this type (not a bool for an int), `default` when missing."""
    def check(value: object, fail: Fail, origin: str) -> Any:
        if value is None:
            return default
        if type(value) is not kind:
            raise fail(message)
        return value
    return check


def _non_empty_check(message: str) -> Check:
    def check(value: object, fail: Fail, origin: str) -> str:
        if type(value) is not str or not value:
            raise fail(message)
        return value
    return check


def _number_check(message: str) -> Check:
    def check(value: object, fail: Fail, origin: str) -> float | int | None:
        if value is None:
            return None
        if type(value) not in (int, float) or value != value:  # not NaN
            raise fail(message)
        return value  # type: ignore[return-value]
    return check


def _numbers_check(message: str) -> Check:
    def check(value: object, fail: Fail, origin: str) -> dict[str, float | int]:
        if value is None:
            return {}
        if type(value) is not dict or not all(
                type(k) is str and type(v) in (int, float) for k, v in value.items()):
            raise fail(message)
        return value
    return check


def _port_check(message: str) -> Check:
    def check(value: object, fail: Fail, origin: str) -> int:
        if type(value) is not int or not 0 <= value <= 65535:
            raise fail(message)
        return value
    return check


def _time_check(name: str) -> Check:
    def check(value: object, fail: Fail, origin: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value < _LAST_TIME  # also refuses NaN
        ):
            raise fail(f"{name} must be a time in seconds since 1970 or null")
        return float(value)
    return check


def _list_check(item: type[int] | type[str], message: str) -> Check:
    """A list whose items are all exactly of type `item` (True is no integer); null: []."""
    def check(value: object, fail: Fail, origin: str) -> list[Any]:
        if value is None:
            return []
        if type(value) is not list or not all(type(v) is item for v in value):
            raise fail(message)
        return value
    return check


def _as_text(value: object) -> str:
    return value if type(value) is str else json.dumps(value, ensure_ascii=False,
                                                       sort_keys=True)


def _notes_check(name: str) -> Check:
    """A list whose items are shown as text: strings as they are, anything else as JSON."""
    def check(value: object, fail: Fail, origin: str) -> list[str]:
        if value is None:
            return []
        if type(value) is not list:
            raise fail(f"{name} must be a list")
        return [_as_text(v) for v in value]
    return check


def _facts_check(name: str) -> Check:
    """Passive facts (SNI, JA3, User-Agent, ...): open-ended, so every value becomes text."""
    def check(value: object, fail: Fail, origin: str) -> dict[str, str | list[str] | None]:
        if value is None:
            return {}
        if type(value) is not dict:
            raise fail(f"{name} must be an object or null")
        out: dict[str, str | list[str] | None] = {}
        for key, v in value.items():
            if v is None or type(v) is str:
                out[key] = v
            elif type(v) is list:
                out[key] = [_as_text(x) for x in v]
            else:
                out[key] = _as_text(v)
        return out
    return check


def _object_check(f: Field, shape: Shape, label: str) -> Check:
    """A nested object: null stays null where writers may write it, else it reads as {}
    (every field of it missing); the fields are named `LABEL.field` in messages."""
    checks = _field_checks(shape, label + ".")
    required = [repr(x.name) for x in shape.fields if x.required]
    message = (f"{label!r} must be an object with {' and '.join(required)}" if required
               else f"{label!r} must be an object or null")
    keeps_null = f.null

    def check(value: object, fail: Fail, origin: str) -> dict[str, Any] | None:
        if value is None:
            if keeps_null:
                return None
            if required:
                raise fail(message)
            value = {}
        elif not isinstance(value, dict):
            raise fail(message)
        get = value.get
        return {name: field_check(get(name), fail, origin) for name, field_check in checks}
    return check


def _objects_check(shape: Shape, label: str) -> Check:
    checks = _field_checks(shape, label + ".")
    message = f"{label!r} must be a list of objects"

    def check(value: object, fail: Fail, origin: str) -> list[dict[str, Any]]:
        if value is None:
            return []
        if type(value) is not list:
            raise fail(message)
        out = []
        for item in value:
            if type(item) is not dict:
                raise fail(message)
            get = item.get
            out.append({name: field_check(get(name), fail, origin)
                        for name, field_check in checks})
        return out
    return check


def _nested_record_check(shape: Shape, label: str) -> Check:
    """An endpoint record inside a flow (`probes.server`): checked as a record of its own,
    its problems prefixed with where it sits, its origin the flow's plus that place."""
    record_check = _record_check(shape, "record", CheckedRecord)

    def check(value: object, fail: Fail, origin: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if type(value) is not dict or value.get("kind") is not None:
            raise fail(f"{label!r} must be an endpoint record or null")

        def nested_fail(problem: str) -> ReportInputError:
            return fail(f"{label}: {problem}")

        return record_check(value, nested_fail, f"{origin} {label}")
    return check


_ENDPOINT_TAG = ENDPOINT.tag()
_FLOW_TAG = FLOW.tag()
_check_endpoint = _record_check(ENDPOINT, "record", CheckedRecord)
_check_flow = _record_check(FLOW, "flow record", CheckedFlow)
_SCAN_TAG = SCAN.tag()
_check_scan = _record_check(SCAN, "scan record", CheckedScan)
