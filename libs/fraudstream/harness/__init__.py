"""Harnesses that start real things: scorers in a thread or a process, a Redis server,
Prometheus, the scoring API, an embedded broker, and the Kafka helpers to feed and
read them.

The demo, the benches and the integration tests use them. They are not test doubles
(those are :mod:`fraudstream.testing`) and no service imports them.
"""
