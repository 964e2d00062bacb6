"""Monitoring: drift against the training reference, and the run report."""
