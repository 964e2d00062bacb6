"""Batch training of the XGBoost challenger from the archive: training set
(:mod:`~fraudstream.training.dataset`), validation, time-ordered cross-validation,
MLflow tracking and registration, and the pipeline steps Airflow and
``fraudstream train`` call (:mod:`~fraudstream.training.pipeline`)."""
