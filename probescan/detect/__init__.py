"""Payload detectors: which application protocol a flow's first messages prove (pure).

Each detector reads the first payload messages of either side (`Messages`) and answers a
`Detection`, `NEED_MORE` (the bytes so far fit, more are needed), or None (not this
protocol). Detectors live in family modules (`lan`, `vpn`, `p2p`, ...) and are listed, in
the order they are tried, by `registry.DETECTORS`. See docs/protocols.md.
"""

from probescan.detect.base import NEED_MORE, Detection, Detector, Messages, NeedMoreType

__all__ = ["NEED_MORE", "Detection", "Detector", "Messages", "NeedMoreType"]
