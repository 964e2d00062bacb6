"""Metrics, health and the small HTTP server every long-running service exposes."""
