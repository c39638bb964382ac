"""The full-payload check of benchmarks/stat_loco.py (`--full-payload`): on the whole
captures, adding the statistical layer must change no payload label; and the score of the
headers-only run over the flows another capture could teach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.stat_loco import MIN_CAPTURES, named, records, run_scorer


def full_payload(scorer: Path, held: list[Path], work: Path, profiles: Path,
                 loco: list[dict[str, Any]]) -> str:
    whole = work / "whole"
    whole.mkdir(parents=True, exist_ok=True)
    for cap in held:
        for name in (cap.name, cap.name + ".out"):
            if not (whole / name).exists():
                (whole / name).symlink_to(cap.parent / name)
    with_stats = run_scorer(scorer, whole, profiles, work / "whole-all.json", "",
                            keep=work / "whole-records")
    by_sig = [r for r in records(work / "whole-records").values()
              if r["method"] == "signature"]
    payload = run_scorer(scorer, whole, "payload-only", work / "whole-payload.json", "")
    key = [(r["capture"], r["transport"], str(r["ends"])) for r in payload]
    assert key == [(r["capture"], r["transport"], str(r["ends"])) for r in with_stats]
    pairs = list(zip(payload, with_stats, strict=True))
    changed = sum(1 for p, w in pairs if named(p["label"]) and p["label"] != w["label"])
    added = [w for p, w in pairs if not named(p["label"]) and named(w["label"])]
    right = [sum(bool(r["agree"]) for r in rows) for rows in (payload, with_stats)]
    n = len(payload)
    return "\n".join([
        "**whole captures (payload kept), ndpi_agreement.py without --ignore-method**", "",
        "| layers | agreement |", "|---|---:|",
        f"| rules, parsers | {right[0]}/{n} ({100 * right[0] / max(n, 1):.1f}%) |",
        f"| rules, parsers, statistics | {right[1]}/{n} ({100 * right[1] / max(n, 1):.1f}%) |",
        "", f"payload labels changed by the statistical layer: {changed}; flows it named that "
        f"the payload left unknown: {len(added)} ({sum(bool(w['agree']) for w in added)} "
        f"right); flows named by a behaviour signature (only flows whose payload was not "
        f"captured: a short snap length): {len(by_sig)} of all records", "", taught(payload, loco)])


def taught(payload: list[dict[str, Any]], loco: list[dict[str, Any]]) -> str:
    """The headers-only score over the flows another capture could teach: those of a protocol
    the payload layers named right in at least MIN_CAPTURES of the other captures."""
    where: dict[str, set[str]] = {}
    for r in payload:
        if r["agree"]:
            where.setdefault(r["master"], set()).add(r["capture"])
    rows = [r for r in loco if len(where.get(r["master"], set()) - {r["capture"]}) >= MIN_CAPTURES]
    right = sum(bool(r["agree"]) for r in rows)
    return (f"Flows another capture could teach (their nDPI protocol named right by the payload "
            f"layers in at least {MIN_CAPTURES} other captures): {len(rows)}/{len(loco)}; "
            f"named right with the payload hidden: {right}/{len(rows)} "
            f"({100 * right / max(len(rows), 1):.1f}%).")
