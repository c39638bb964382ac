"""Probe names that stand for the same probe: nmap's NULL probe is our `null`.

Both send nothing and wait for a banner, so the rules written for nmap's NULL probe run on our
`null` responses, and the engine does not send nmap's NULL probe as well as ours. Stated here
once for the catalog (`fingerprints`, `nmap`) and the engine; this module imports nothing, so
any module can import it without cycles.
"""

from __future__ import annotations

from collections.abc import Mapping

NULL_PROBE = "null"
"""Our probe that sends nothing and waits for a banner."""

NMAP_NULL = "nmap:NULL"
"""Our name for nmap's NULL probe (send nothing, wait for a banner): our `null`."""

PROBE_ALIASES: Mapping[str, tuple[str, ...]] = {NULL_PROBE: (NMAP_NULL,)}
"""Probe name -> other probes whose rules also apply to its responses."""

ALIASED_PROBES = frozenset(alias for names in PROBE_ALIASES.values() for alias in names)
"""Probes another probe stands for: never sent themselves (their rules run on its responses)."""
