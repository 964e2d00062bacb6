"""Kafka plumbing, written once: clients built from settings, topic admin, delivery
tracking. Services never build Kafka clients by hand."""
