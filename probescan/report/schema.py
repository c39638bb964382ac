"""The report's input checks: a record in, a checked and completed record out.

`check_record` takes an endpoint record (docs/output.md) or a flow record (`"kind": "flow"`)
as JSON gives it and returns a `CheckedRecord` / `CheckedFlow`, or raises
`ReportInputError`, whose text is one line naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any


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


def split_records(
    records: Iterable[dict[str, Any]],
) -> tuple[list[CheckedRecord], list[CheckedFlow]]:
    """Checked records -> (endpoint records, flow records).

    Endpoints: one per (ip, port, transport), the last one met, an endpoint nested in a
    flow's probes counting at its flow's place; in the order of their last meeting. Flows:
    all, in order.
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
        else:
            raise TypeError("split_records takes what check_record returns")
    return list(by_endpoint.values()), flows


_STRING_FIELDS = ("hostname", "service", "product", "version", "info", "host", "os",
                  "device", "tunnel", "method", "error")
_TLS_STRING_FIELDS = ("version", "cipher", "alpn", "subject", "issuer", "not_before",
                      "not_after", "serial", "sha256")
_EVIDENCE_FIELDS = ("probe", "fingerprint", "source", "tunnel", "raw")
_FLOW_STRING_FIELDS = ("service", "product", "version", "info", "method", "roles")
_PASSIVE_STRING_FIELDS = ("fingerprint", "source", "as_reply_to", "protocol", "client_raw",
                          "server_raw")
_LAST_TIME = 253402300800  # 10000-01-01T00:00:00Z: times must be before it


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
    if type(data) is CheckedRecord or type(data) is CheckedFlow:
        return data

    def fail(problem: str) -> ReportInputError:
        return ReportInputError(source, problem, where)

    if not isinstance(data, dict):
        raise fail("not a JSON object")
    kind = data.get("kind")
    if kind == "flow":
        return _check_flow(data, source, where, fail)
    if kind is not None and kind != "endpoint":
        shown = json.dumps(kind)  # quoted, control characters escaped
        raise fail(f"unknown record kind {shown if len(shown) <= 40 else shown[:40] + '...'}")
    return _check_endpoint(data, f"{source}:{where}", fail)


def _check_endpoint(
    data: dict[str, Any], origin: str, fail: Callable[[str], ReportInputError]
) -> CheckedRecord:
    for name in ("ip", "port", "transport", "state"):
        if data.get(name) is None:
            raise fail(f"record has no {name!r}")
    ip, port, transport, state = data["ip"], data["port"], data["transport"], data["state"]
    if type(port) is not int or not 0 <= port <= 65535:
        raise fail("'port' must be an integer 0..65535")
    for name, value in (("ip", ip), ("transport", transport), ("state", state)):
        if type(value) is not str or not value:
            raise fail(f"{name!r} must be a non-empty string")

    out = CheckedRecord(ip=ip, port=port, transport=transport, state=state)
    get = data.get
    for name in _STRING_FIELDS:
        out[name] = _opt_str(get(name), name, fail)
    if out["method"] is None:
        out["method"] = "none"
    out["confidence"] = _confidence(get("confidence"), fail)
    out["cpe"] = _str_list(get("cpe"), "cpe", fail)

    tls = get("tls")
    if tls is not None:
        if not isinstance(tls, dict):
            raise fail("'tls' must be an object or null")
        t: dict[str, Any] = {}
        for name in _TLS_STRING_FIELDS:
            t[name] = _opt_str(tls.get(name), f"tls.{name}", fail)
        t["sans"] = _str_list(tls.get("sans"), "tls.sans", fail)
        t["self_signed"] = _opt_bool(tls.get("self_signed"), "tls.self_signed", fail)
        tls = t
    out["tls"] = tls

    out["evidence"] = _evidence_list(get("evidence"), "evidence", fail)
    out["unmatched"] = _evidence_list(get("unmatched"), "unmatched", fail)
    out["anomalies"] = _text_list(get("anomalies"), "anomalies", fail)
    given = get("origin")
    out["origin"] = given if type(given) is str else origin
    return out


def _check_flow(
    data: dict[str, Any], source: str, where: int | str,
    fail: Callable[[str], ReportInputError],
) -> CheckedFlow:
    get = data.get
    for name in ("client", "server", "transport"):
        if get(name) is None:
            raise fail(f"flow record has no {name!r}")
    transport = get("transport")
    if type(transport) is not str or not transport:
        raise fail("'transport' must be a non-empty string")
    out = CheckedFlow(kind="flow", id=_opt_int(get("id"), "id", fail), transport=transport)
    for side in ("client", "server"):
        out[side] = _address(get(side), side, fail)
    for name in _FLOW_STRING_FIELDS:
        out[name] = _opt_str(get(name), name, fail)
    if out["method"] is None:
        out["method"] = "none"
    out["confidence"] = _confidence(get("confidence"), fail)
    out["cpe"] = _str_list(get("cpe"), "cpe", fail)
    out["midstream"] = _opt_bool(get("midstream"), "midstream", fail)
    out["vlan"] = _opt_int(get("vlan"), "vlan", fail)
    out["first_seen"] = _opt_time(get("first_seen"), "first_seen", fail)
    out["last_seen"] = _opt_time(get("last_seen"), "last_seen", fail)
    for name in ("packets", "bytes"):
        out[name] = _counters(get(name), name, fail)
    out["conflicts"] = _text_list(get("conflicts"), "conflicts", fail)
    out["anomalies"] = _text_list(get("anomalies"), "anomalies", fail)

    passive = get("passive")
    if passive is not None and type(passive) is not dict:
        raise fail("'passive' must be an object or null")
    passive = passive or {}
    p: dict[str, Any] = {}
    for name in _PASSIVE_STRING_FIELDS:
        p[name] = _opt_str(passive.get(name), f"passive.{name}", fail)
    for side in ("client", "server"):
        p[side] = _facts(passive.get(side), f"passive.{side}", fail)
    out["passive"] = p

    probes = get("probes")
    if probes is not None and type(probes) is not dict:
        raise fail("'probes' must be an object or null")
    probes = probes or {}
    origin = f"{source}:{where}"
    checked: dict[str, Any] = {}
    for side in ("server", "client"):
        value = probes.get(side)
        if value is None:
            checked[side] = None
            continue
        name = f"probes.{side}"

        def nested_fail(problem: str, name: str = name) -> ReportInputError:
            return ReportInputError(source, f"{name}: {problem}", where)

        if type(value) is not dict or value.get("kind") is not None:
            raise fail(f"{name!r} must be an endpoint record or null")
        checked[side] = _check_endpoint(value, f"{origin} {name}", nested_fail)
    checked["queued"] = _str_list(probes.get("queued"), "probes.queued", fail)
    out["probes"] = checked
    given = get("origin")
    out["origin"] = given if type(given) is str else origin
    return out


def _opt_str(value: object, name: str, fail: Callable[[str], Exception]) -> str | None:
    if value is not None and type(value) is not str:
        raise fail(f"{name!r} must be a string or null")
    return value


def _opt_int(value: object, name: str, fail: Callable[[str], Exception]) -> int | None:
    if value is not None and type(value) is not int:
        raise fail(f"{name!r} must be an integer or null")
    return value


def _opt_bool(value: object, name: str, fail: Callable[[str], Exception]) -> bool | None:
    if value is not None and type(value) is not bool:
        raise fail(f"{name!r} must be true, false or null")
    return value


def _confidence(value: object, fail: Callable[[str], Exception]) -> int:
    if value is None:
        return 0
    if type(value) is not int:
        raise fail("'confidence' must be an integer")
    return value


def _opt_time(value: object, name: str, fail: Callable[[str], Exception]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        0 <= value < _LAST_TIME  # also refuses NaN
    ):
        raise fail(f"{name!r} must be a time in seconds since 1970 or null")
    return float(value)


def _address(value: object, name: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    if type(value) is not dict:
        raise fail(f"{name!r} must be an object with 'ip' and 'port'")
    ip, port = value.get("ip"), value.get("port")
    if type(ip) is not str or not ip:
        raise fail(f"'{name}.ip' must be a non-empty string")
    if type(port) is not int or not 0 <= port <= 65535:
        raise fail(f"'{name}.port' must be an integer 0..65535")
    return {"ip": ip, "port": port}


def _counters(value: object, name: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    if value is None:
        return {"c2s": None, "s2c": None}
    if type(value) is not dict:
        raise fail(f"{name!r} must be an object or null")
    return {d: _opt_int(value.get(d), f"{name}.{d}", fail) for d in ("c2s", "s2c")}


def _str_list(value: object, name: str, fail: Callable[[str], Exception]) -> list[str]:
    if value is None:
        return []
    if type(value) is not list or not all(type(v) is str for v in value):
        raise fail(f"{name!r} must be a list of strings")
    return value


def _as_text(value: object) -> str:
    return value if type(value) is str else json.dumps(value, ensure_ascii=False,
                                                       sort_keys=True)


def _text_list(value: object, name: str, fail: Callable[[str], Exception]) -> list[str]:
    """A list whose items are shown as text: strings as they are, anything else as JSON."""
    if value is None:
        return []
    if type(value) is not list:
        raise fail(f"{name!r} must be a list")
    return [_as_text(v) for v in value]


def _facts(
    value: object, name: str, fail: Callable[[str], Exception]
) -> dict[str, str | list[str] | None]:
    """Passive facts (SNI, JA3, User-Agent, ...): open-ended, so every value becomes text."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise fail(f"{name!r} must be an object or null")
    out: dict[str, str | list[str] | None] = {}
    for key, v in value.items():
        if v is None or type(v) is str:
            out[key] = v
        elif type(v) is list:
            out[key] = [_as_text(x) for x in v]
        else:
            out[key] = _as_text(v)
    return out


def _evidence_list(
    value: object, name: str, fail: Callable[[str], Exception]
) -> list[dict[str, str | None]]:
    if value is None:
        return []
    if type(value) is not list:
        raise fail(f"{name!r} must be a list of objects")
    out = []
    for item in value:
        if type(item) is not dict:
            raise fail(f"{name!r} must be a list of objects")
        out.append({key: _opt_str(item.get(key), f"{name}.{key}", fail)
                    for key in _EVIDENCE_FIELDS})
    return out

