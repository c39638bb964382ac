"""Asyncio I/O: discovery, probes, TLS, limits. Everything else in probescan is pure."""
