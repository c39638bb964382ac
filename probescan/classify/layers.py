"""The classification layers, in the order they decide, and which one named a flow (pure).

    rules       payload rules: the fingerprints over each side's first bytes (watch/passive.py
                with probescan/match.py and fingerprints/)
    parsers     protocol parsers and payload detectors: the structure of the first messages
                (probescan/protocols/, probescan/detect/)
    statistics  the flow's behaviour, for a flow the payload layers left unknown: first the
                behaviour signatures (classify/signatures.py, profiles/signatures.toml) for a
                flow whose payload was not captured, then the trained profiles' forest
                (classify/statistical.py, profiles/)

`watch --classifiers rules,parsers,statistics` selects them (all by default). A later layer
never overrides an earlier one's label: statistics runs only on flows nothing named. Every
flow record names the layer that decided it in `decided_by`, beside two deciders that are
not layers of the payload: `probe` (the active probe of the server) and `announced` (another
flow set this one up: FTP data, TFTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from probescan.engine.verdict import LabelBasis

Layer = Literal["rules", "parsers", "statistics"]
LAYERS: Final[tuple[Layer, ...]] = ("rules", "parsers", "statistics")
PAYLOAD_LAYERS: Final = frozenset({"rules", "parsers"})
DecidedBy = Literal["rules", "parsers", "statistics", "probe", "announced"]

# The label rule a flow's label came from (engine/verdict.py LABEL) -> the layer that decided.
DECIDED_BY: Final[Mapping[LabelBasis, DecidedBy | None]] = {
    "agree": "rules",  # a fingerprint, confirmed by the probe (or a detector's: "parsers")
    "disagree": "rules",
    "passive-hard": "rules",
    "passive-soft": "rules",
    "parser": "parsers",
    "detector": "parsers",
    "announced": "announced",
    "statistical": "statistics",
    "signature": "statistics",  # a behaviour signature (classify/signatures.py)
    "nothing": None,
}


def parse_classifiers(text: str) -> frozenset[str]:
    """`rules,parsers,statistics` (any subset, any order) -> the set; ValueError naming an
    unknown layer or an empty list."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--classifiers {text!r}: name at least one of {', '.join(LAYERS)}")
    for n in names:
        if n not in LAYERS:
            raise ValueError(f"--classifiers: unknown layer {n!r} (layers: {', '.join(LAYERS)})")
    return frozenset(names)
