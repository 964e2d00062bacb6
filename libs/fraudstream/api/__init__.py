"""The synchronous scoring API (``fraudstream serve``); see docs/api.md."""
