"""Replay a dataset into Kafka: the demo's feed and the operators' load generator.

:mod:`~fraudstream.replay.plan` decides what is sent when (pure),
:mod:`~fraudstream.replay.feeder` encodes it ahead of time in a separate process,
:mod:`~fraudstream.replay.runner` paces and sends it, and
:mod:`~fraudstream.replay.report` says what happened.
"""
