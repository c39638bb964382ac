"""The report's summary: the cards' counts and the charts of endpoint and flow records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from probescan.report.charts import chart, quote_query, timeline
from probescan.report.schema import check_record, split_records

EXPIRY_WARNING = timedelta(days=30)
UNKNOWN_SERVICES = frozenset({"unknown"})


def tls_problems(tls: dict[str, Any] | None, now: datetime) -> list[str]:
    """`expired`, `expiring` (within EXPIRY_WARNING of `now`), `self-signed`."""
    if not tls:
        return []
    problems: list[str] = []
    not_after = _parse_time(tls.get("not_after"))
    if not_after is not None:
        if not_after < now:
            problems.append("expired")
        elif not_after - now <= EXPIRY_WARNING:
            problems.append("expiring")
    if tls.get("self_signed"):
        problems.append("self-signed")
    return problems


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def is_unknown(r: dict[str, Any]) -> bool:
    return r["state"] == "open" and (r["service"] is None or r["service"] in UNKNOWN_SERVICES)


def flow_unknown(f: dict[str, Any]) -> bool:
    return f["service"] is None or f["service"] in UNKNOWN_SERVICES


def summarize(records: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The summary cards and charts of endpoint and flow records (as check_record makes)."""
    checked = [check_record(r, "<records>", i) for i, r in enumerate(records, 1)]
    endpoints, flows = split_records(checked)
    return summarize_checked(endpoints, flows, now)


def summarize_checked(
    records: Sequence[dict[str, Any]], flows: Sequence[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    open_ = [r for r in records if r["state"] == "open"]
    services = Counter(r["service"] for r in open_ if r["service"] and not is_unknown(r))
    products = Counter(r["product"] for r in open_ if r["product"])
    ports = Counter(f'{r["port"]}/{r["transport"]}' for r in open_)
    states = Counter(r["state"] for r in records)
    tls = [tls_problems(r["tls"], now) for r in records]
    endpoint_anomalies = sum(1 for r in records if r["anomalies"])
    flow_anomalies = sum(1 for f in flows if f["anomalies"])
    return {
        "records": len(records),
        "hosts": len({r["ip"] for r in records}),
        "hosts_open": len({r["ip"] for r in open_}),
        "open": len(open_),
        "open_filtered": sum(1 for r in records if r["state"] == "open|filtered"),
        "states": sorted(states.items(), key=lambda kv: (-kv[1], kv[0])),
        "identified": sum(services.values()),
        "service_kinds": len(services),
        "unknown": sum(1 for r in records if is_unknown(r)),
        "tls": sum(1 for r in records if r["tls"]),
        "expired": sum("expired" in p for p in tls),
        "expiring": sum("expiring" in p for p in tls),
        "self_signed": sum("self-signed" in p for p in tls),
        "anomalies": endpoint_anomalies + flow_anomalies,
        "endpoint_anomalies": endpoint_anomalies,
        "flow_anomalies": flow_anomalies,
        "errors": sum(1 for r in records if r["error"]),
        "charts": [
            chart("Services", services, lambda s: "service:" + quote_query(s)),
            chart("Ports", ports, lambda p: "port:" + p.split("/")[0]),
            chart("Products", products, lambda p: "product:" + quote_query(p)),
        ],
        "flows": _summarize_flows(flows) if flows else None,
    }


def _summarize_flows(flows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    server_ports = Counter(f'{f["server"]["port"]}/{f["transport"]}' for f in flows)
    servers = Counter(f["server"]["ip"] for f in flows)
    clients = Counter(f["client"]["ip"] for f in flows)
    unknown = sum(1 for f in flows if flow_unknown(f))
    return {
        "flows": len(flows),
        "clients": len(clients),
        "servers": len({(f["server"]["ip"], f["server"]["port"], f["transport"])
                        for f in flows}),
        "identified": len(flows) - unknown,
        "service_kinds": len({f["service"] for f in flows if not flow_unknown(f)}),
        "unknown": unknown,
        "conflicts": sum(1 for f in flows if f["conflicts"]),
        "anomalies": sum(1 for f in flows if f["anomalies"]),
        "probed": sum(1 for f in flows if f["probes"]["server"] or f["probes"]["client"]),
        "timeline": timeline(flows),
        "charts": [
            chart("Server ports", server_ports, lambda p: "port:" + p.split("/")[0],
                   "flows", "no flows"),
            chart("Servers", servers, lambda ip: "server:" + ip, "flows", "no flows"),
            chart("Clients", clients, lambda ip: "client:" + ip, "flows", "no flows"),
        ],
    }
