"""The Kafka consume-process-produce loop, written once for every streaming service."""
