"""Scoring: decode, features, model, decision, and the records the scorer emits."""
