"""The FastAPI app: ``POST /v1/score``, ``GET /v1/model``, health and metrics.

Built by :func:`create_app` from the settings; ``fraudstream serve`` runs it with
uvicorn. Requests are parsed and answered on the event loop; the Redis and model work
runs on one scoring thread, which batches the requests that queue up while it works
(:mod:`fraudstream.api.batcher`). A slow Redis holds that thread, never the loop that
answers ``/healthz``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final

import structlog
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from fraudstream import __version__
from fraudstream.api.batcher import ScoringBatcher
from fraudstream.api.limits import BodyLimitMiddleware
from fraudstream.api.metrics import ApiMetrics, MetricsMiddleware
from fraudstream.api.models import (
    BatchIn,
    ModelInfo,
    ModelsResponse,
    Problem,
    ScoreRequest,
    ScoreResponse,
    ScoreResult,
)
from fraudstream.api.service import ScoringService
from fraudstream.config import Settings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.httpauth import require_api_key, required_key
from fraudstream.models import ScoringModel
from fraudstream.schemas import MAX_RECORD_BYTES
from fraudstream.scoring.core import ScoredBatch

log = structlog.get_logger(__name__)

#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S: Final = 1

_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": Problem, "description": "Missing or wrong X-API-Key."},
    503: {"model": Problem, "description": "Redis or the model is unavailable; see Retry-After."},
}


def create_app(settings: Settings, *, freeze_gc: bool = False) -> FastAPI:
    """The API over the Redis and model of ``settings`` (API_KEY must be set).

    ``freeze_gc``: once started, move every object to the garbage collector's permanent
    generation (``gc.freeze``), for a process that serves nothing else.
    """
    expected = required_key(settings.api.key, "API_KEY", "the scoring API")
    max_batch = settings.api.max_batch
    service = ScoringService(settings)
    registry = CollectorRegistry()
    metrics = ApiMetrics(registry)
    batcher = ScoringBatcher(
        lambda txs, record: service.score(txs, record=record),
        lambda scored: _results(scored, metrics),
        max_transactions=max_batch,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        batcher.start()
        if freeze_gc:
            # What startup created (modules, models, MLflow) lives as long as the
            # process: out of the collector's sight, a full collection no longer walks
            # it while requests wait (one took 0.2-0.3 s at startup).
            gc.collect()
            gc.freeze()
        yield
        batcher.stop()
        service.close()

    require_key = require_api_key(expected)

    app = FastAPI(
        title="fraudstream scoring API",
        version=__version__,
        description="Authorisation-time fraud scores with the streaming scorer's features, "
        "model and decision. See docs/api.md.",
        lifespan=lifespan,
    )
    _wire(app, metrics, max_batch)

    @app.post(
        "/v1/score",
        response_model=ScoreResponse,
        dependencies=[Depends(require_key)],
        responses={
            **_ERRORS,
            400: {"model": Problem, "description": "The body could not be parsed at all."},
            413: {"model": Problem, "description": "More than API_MAX_BATCH transactions."},
        },
        tags=["scoring"],
    )
    async def score(
        body: ScoreRequest,
        record: Annotated[
            bool,
            Query(
                description="true (default): record the transactions in the feature store, "
                "so later ones count them (idempotent per transaction_id); false: read "
                "only, each transaction scored as if it alone were recorded now."
            ),
        ] = True,
    ) -> Response:
        """Score one transaction, or a batch of up to API_MAX_BATCH, in order."""
        items = body.transactions if isinstance(body, BatchIn) else [body]
        if len(items) > max_batch:
            raise HTTPException(413, f"{len(items)} transactions: at most {max_batch} per request")
        results = await batcher.score([item.to_transaction() for item in items], record=record)
        # The results were built as ScoreResults: serialised as they are, not validated again.
        answer = ScoreResponse.model_construct(recorded=record, results=results)
        return Response(answer.model_dump_json(), media_type="application/json")

    @app.get(
        "/v1/model",
        response_model=ModelsResponse,
        dependencies=[Depends(require_key)],
        responses={401: _ERRORS[401]},
        tags=["models"],
    )
    def model() -> ModelsResponse:
        """The champion in use and, when one is loaded, the challenger, with their metrics."""
        service.model()
        return ModelsResponse(
            champion=_info(service.models.model),
            challenger=None if service.models.shadow is None else _info(service.models.shadow),
            snapshot_load_failures=service.models.load_failures,
        )

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        responses={503: {"description": "Redis does not answer or no model is loaded."}},
    )
    def readyz() -> JSONResponse:
        """Readiness: Redis answers and a model is loaded."""
        ready, checks = service.ready()
        return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Prometheus metrics."""
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _wire(app: FastAPI, metrics: ApiMetrics, max_batch: int) -> None:
    """Metrics, the body size limit, error answers and the OpenAPI batch limit."""
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated schema, with the batch limit of these settings."""
        if app.openapi_schema is None:
            schema = generate_openapi()
            batch = schema["components"]["schemas"]["BatchIn"]["properties"]["transactions"]
            batch["maxItems"] = max_batch
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(ServiceUnavailableError)
    async def unavailable(_: Request, exc: ServiceUnavailableError) -> JSONResponse:
        log.warning("answering 503", error=str(exc))
        return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": errors}, 422)

    app.add_middleware(BodyLimitMiddleware, max_bytes=max_batch * MAX_RECORD_BYTES)


def _results(scored: ScoredBatch, metrics: ApiMetrics) -> list[ScoreResult]:
    """One result per transaction; the decisions counted."""
    threshold, version = scored.threshold, scored.model.version
    results = []
    for index, (tx, score, alert) in enumerate(
        zip(scored.transactions, scored.scores.tolist(), scored.alerts.tolist(), strict=True)
    ):
        (metrics.declined if alert else metrics.approved).inc()
        results.append(
            ScoreResult(
                transaction_id=tx.transaction_id,
                score=score,
                decision="decline" if alert else "approve",
                threshold=threshold,
                model_version=version,
                reasons=scored.reasons(index),
                duplicate=bool(scored.features.duplicate[index]),
                late=bool(scored.features.late[index]),
            )
        )
    return results


def _info(model: ScoringModel) -> ModelInfo:
    metrics = getattr(model, "metrics", None)
    return ModelInfo(version=model.version, metrics=dict(metrics) if metrics else {})
