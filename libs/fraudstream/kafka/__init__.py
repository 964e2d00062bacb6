"""Kafka plumbing, written once: clients built from settings, topic admin, delivery
tracking, topics read to their end, the consume–flush loop. Services never build
Kafka clients by hand."""
