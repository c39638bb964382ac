"""The outputs, each a sink (sink.py): JSON Lines, nmap XML, the SQLite store, the HTML report
and the terminal."""
