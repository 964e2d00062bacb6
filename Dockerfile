# syntax=docker/dockerfile:1
# One image, every fraudstream process: the entry point is the `fraudstream` CLI, the
# command picks the process (score, learn, archive, serve, replay, train, topics).
#
#   docker build -t fraudstream .                     # the services (default target)
#   docker build --target airflow -t fraudstream-airflow .
#   docker build --target mlflow -t fraudstream-mlflow .
#
# Targets: builder (uv sync of the locked dependencies, then the project),
# airflow (Apache Airflow 3 with the fraudstream venv), mlflow (tracking server with
# the Postgres driver), runtime (last, the default). No secret is ever copied in:
# .dockerignore admits only pyproject.toml, uv.lock, README.md and libs/.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# The dependency layer: rebuilt only when the lock changes, not when the code does.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY libs ./libs
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# Airflow 3 with fraudstream beside it: the venv sits at the same path as in the
# runtime image (its scripts name their interpreter by absolute path) and its bin/ is
# at the end of PATH, so `fraudstream` runs from DAG tasks while `python` and
# `airflow` stay Airflow's own. The DAGs' @task.external_python finds that
# interpreter through FRAUDSTREAM_PYTHON. /app/data is shared with the fraudstream
# services (uid 10001); compose runs Airflow as 10001:0, which the Airflow image
# supports (any uid, group 0).
FROM apache/airflow:3.3.2-python3.11 AS airflow
USER 0
RUN mkdir -p /app/data \
    && chown 10001:0 /app/data \
    && chmod 2775 /app/data
USER 50000
COPY --from=builder --chown=airflow:0 /app/.venv /app/.venv
ENV PATH="${PATH}:/app/.venv/bin" \
    FRAUDSTREAM_PYTHON=/app/.venv/bin/python

# The MLflow tracking server with a Postgres backend store: the upstream image plus
# the Postgres driver, run as an unprivileged user that owns the artifact folder.
FROM ghcr.io/mlflow/mlflow:v3.17.2 AS mlflow
RUN pip install --no-cache-dir psycopg2-binary==2.9.13 \
    && useradd --system --uid 10002 --create-home --shell /usr/sbin/nologin mlflow \
    && mkdir -p /mlflow/artifacts \
    && chown -R mlflow /mlflow
USER 10002
WORKDIR /mlflow
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:5000/health', timeout=4)"]

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="fraudstream" \
      org.opencontainers.image.description="Real-time credit-card fraud detection: scorer, learner, archiver, API, replay" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 fraudstream \
    && useradd --system --uid 10001 --gid fraudstream --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin fraudstream \
    && mkdir -p /app/data \
    && chown fraudstream:fraudstream /app/data
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    FRAUDSTREAM_DATA_DIR=/app/data \
    FRAUDSTREAM_LOG_JSON=true
USER 10001:10001
# scorer /metrics+/healthz, learner, archiver, HTTP API
EXPOSE 8001 8002 8003 8080
# Each process serves /healthz on its own port: the scorer's by default, others set
# HEALTHCHECK_URL (compose and Kubernetes define their own probes anyway).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "fraudstream.observability.probe"]
ENTRYPOINT ["fraudstream"]
CMD ["--help"]
