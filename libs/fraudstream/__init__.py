"""fraudstream: real-time credit-card fraud detection.

The one importable package. Importing it (or any of its modules) does no I/O:
no directories are created, no logging is configured, no service is contacted.
"""

__version__ = "0.1.0"
