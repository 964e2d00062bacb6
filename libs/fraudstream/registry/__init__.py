"""The MLflow model registry as fraudstream uses it: the client, loading a version, and
the watcher that follows the aliases.

One registered model (``MLFLOW_REGISTERED_MODEL_NAME``) holds every candidate. The alias
``champion`` names what the scorers serve and ``challenger`` what they score in shadow;
see docs/training.md. Registry stages are deprecated in MLflow 3, so aliases only.
Moving the aliases (promotion, rollback) is :mod:`fraudstream.promotion`'s.
"""
