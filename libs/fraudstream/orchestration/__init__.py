"""What the Airflow DAGs in ``dags/`` run, as plain functions: docs/orchestration.md.

Airflow lives in an environment of its own; each task runs one function of
:mod:`fraudstream.orchestration.tasks` in the project's environment.
"""
