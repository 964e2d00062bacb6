"""The MLflow model registry as fraudstream uses it: aliases, promotion, rollback.

One registered model (``MLFLOW_REGISTERED_MODEL_NAME``) holds every candidate. The alias
``champion`` names what the scorers serve and ``challenger`` what they score in shadow;
see docs/training.md. Registry stages are deprecated in MLflow 3, so aliases only.
"""
