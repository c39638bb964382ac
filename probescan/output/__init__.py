"""Sinks for ServiceRecords: JSON Lines, the terminal, (later) nmap XML, SQLite and HTML."""
