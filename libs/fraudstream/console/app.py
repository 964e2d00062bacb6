"""The console's web app: the alert queue, an alert's page, the verdict buttons.

Pages are rendered on the server (Jinja2) and read fully without JavaScript; a few
lines of script refresh the queue's rows every few seconds. Every page needs the key
(:mod:`~fraudstream.console.auth`) but ``/healthz``, ``/readyz`` and ``/metrics``.
A verdict is a plain form POST answered with a redirect to the alert's page.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import parse_qs, quote

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fraudstream import __version__
from fraudstream.config import Settings
from fraudstream.console.services import ConsoleServices, redis_call
from fraudstream.console.verdicts import VERDICTS, Verdict
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.errors import FeatureStoreUnavailableError

log = structlog.get_logger(__name__)

_TEMPLATES: Final = Path(__file__).parent / "templates"


def create_console(
    settings: Settings, *, insecure_local: bool = False, ingest: bool = True
) -> FastAPI:
    """The console over the Kafka and Redis of ``settings``.

    CONSOLE_KEY must be set unless ``insecure_local``. ``ingest``: read the alerts
    topic while serving (else another console replica does).
    """
    services = ConsoleServices.build(settings, insecure_local=insecure_local)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if ingest:
            services.runner.start()
        yield
        services.close()

    app = FastAPI(
        title="fraudstream console",
        version=__version__,
        description="The analysts' alert console. See docs/console.md.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    templates = Jinja2Templates(env=_environment())
    _pages(app, services, templates)
    _review(app, services)
    _health(app, services, ingest=ingest)

    async def unavailable(request: Request, exc: Exception) -> HTMLResponse:
        log.warning("answering 503", error=str(exc))
        return templates.TemplateResponse(
            request, "error.html", {"message": str(exc)}, status_code=503
        )

    app.add_exception_handler(ServiceUnavailableError, unavailable)
    app.add_exception_handler(FeatureStoreUnavailableError, unavailable)
    return app


def _pages(app: FastAPI, services: ConsoleServices, templates: Jinja2Templates) -> None:
    analyst_type = Annotated[str, Depends(services.auth)]

    @app.get("/", response_class=HTMLResponse, tags=["pages"])
    def queue_page(request: Request, analyst: analyst_type) -> HTMLResponse:
        """The alert queue, newest first, with its filters and the day's budget."""
        view = services.queue_view(request.query_params, request.url.query, analyst)
        return templates.TemplateResponse(request, "queue.html", view)

    @app.get("/rows", response_class=HTMLResponse, tags=["pages"])
    def queue_rows(request: Request, analyst: analyst_type) -> HTMLResponse:
        """The queue's table rows alone (what the page's refresh fetches)."""
        view = services.queue_view(request.query_params, request.url.query, analyst)
        return templates.TemplateResponse(request, "rows.html", view)

    @app.get("/alerts/{alert_id:path}", response_class=HTMLResponse, tags=["pages"])
    def alert_page(request: Request, alert_id: str, analyst: analyst_type) -> HTMLResponse:
        """One alert: score, model, reasons and their values, the card, the merchant."""
        alert = services.alert(alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id} in the queue")
        view = services.alert_view(alert, analyst, request.query_params.get("done", ""))
        return templates.TemplateResponse(request, "alert.html", view)

    @app.post("/alerts/{alert_id:path}/verdict", tags=["verdicts"])
    async def verdict(request: Request, alert_id: str, analyst: analyst_type) -> RedirectResponse:
        """Give the alert a verdict (form fields ``verdict``, ``token``); 303 to its page."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        chosen = form.get("verdict", [""])[0]
        if chosen not in VERDICTS:
            raise HTTPException(422, f"verdict must be one of {', '.join(VERDICTS)}")
        if not services.auth.token_ok(form.get("token", [""])[0], analyst, alert_id):
            raise HTTPException(403, "the form's token does not match: reload the page")
        alert = services.alert(alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id} in the queue")
        given: Verdict = "fraud" if chosen == "fraud" else "genuine"
        outcome = redis_call(lambda: services.desk.give(alert, given, analyst))
        if outcome.changed:
            services.verdicts_given.labels(given).inc()
            log.info("verdict", alert_id=alert_id, verdict=given, analyst=analyst)
        done = "recorded" if outcome.changed else "unchanged"
        return RedirectResponse(f"/alerts/{quote(alert_id)}?done={done}", status_code=303)


def _review(app: FastAPI, services: ConsoleServices) -> None:
    analyst_type = Annotated[str, Depends(services.auth)]

    @app.post("/alerts/{alert_id:path}/review", tags=["verdicts"])
    async def review(request: Request, alert_id: str, analyst: analyst_type) -> RedirectResponse:
        """The cardholder's review of the card's latest transactions shown on the alert's
        page (form fields ``tx`` and ``disputed``, repeated, and ``token``): each shown
        transaction gets a verdict, fraud when disputed, genuine otherwise; 303 to the page."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if not services.auth.token_ok(form.get("token", [""])[0], analyst, alert_id):
            raise HTTPException(403, "the form's token does not match: reload the page")
        alert = services.alert(alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id} in the queue")
        card = alert.card_id
        if not card:
            raise HTTPException(422, "the alert names no card")
        known = {t.transaction_id for t in services.context.card_history(card)}
        shown = [tx for tx in dict.fromkeys(form.get("tx", [])) if tx in known]
        disputed = set(form.get("disputed", []))
        if not disputed <= set(shown):
            raise HTTPException(422, "a disputed transaction is not among the card's shown")
        changed = redis_call(lambda: services.desk.review(card, shown, disputed, analyst))
        log.info("review", alert_id=alert_id, card_id=card, disputed=len(disputed), changed=changed)
        return RedirectResponse(f"/alerts/{quote(alert_id)}?done=reviewed", status_code=303)


def _health(app: FastAPI, services: ConsoleServices, *, ingest: bool) -> None:
    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Readiness: Redis answers and the consumer reads the alerts."""
        try:
            redis_ok = bool(services.client.ping())
        except Exception:  # any failure to answer is "not ready", reported below
            redis_ok = False
        status = services.runner.status()
        ready = redis_ok and (status == "reading" or not ingest)
        checks = {"redis": redis_ok, "consumer": status}
        return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Prometheus metrics."""
        return PlainTextResponse(generate_latest(services.registry), media_type=CONTENT_TYPE_LATEST)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["when"] = _when
    return env


def _when(moment: datetime | None) -> str:
    """A time as the pages show it: UTC, to the second."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
