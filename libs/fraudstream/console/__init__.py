"""The analysts' alert console (``fraudstream console``); see docs/console.md.

Alerts are read from the alerts topic into Redis (:mod:`~fraudstream.console.ingest`,
:mod:`~fraudstream.console.queue`), shown as server-rendered pages
(:mod:`~fraudstream.console.app`), and the analysts' verdicts go back to the labels
topic as investigator labels (:mod:`~fraudstream.console.verdicts`).
"""
