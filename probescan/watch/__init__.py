"""The passive watcher: capture -> flows -> passive labels -> active probes of both endpoints.

scapy is imported only by probescan.watch.capture, and only when a capture starts.
"""
