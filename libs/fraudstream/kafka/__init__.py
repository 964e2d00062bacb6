"""Kafka plumbing, written once: clients built from settings, topic admin, delivery
tracking, topics read to their end, the consume–flush loop. Services never build
Kafka clients by hand."""

from fraudstream.kafka.sockets import close_failed_connects

close_failed_connects()
