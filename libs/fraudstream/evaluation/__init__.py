"""Model quality measures that matter for fraud: ranking among rare positives."""
