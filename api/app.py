"""The application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon
import falcon.asgi

from api import render
from api.instrumentation import MetricsResource, RequestMetrics
from api.metrics import Metrics
from api.resources import GreetingResource, LivenessResource, ReadinessResource, VisitsResource
from api.settings import Settings
from api.store import MariaDBStore, StoreUnavailable, VisitStore

# Seconds a client should wait before retrying while the database is away.
RETRY_AFTER_SECONDS = 5


def create_app(
    settings: Settings | None = None,
    store: VisitStore | None = None,
    metrics: Metrics | None = None,
) -> falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]:
    """Build the ASGI app. Nothing here touches the database: start-up must
    succeed while it is still down."""
    settings = Settings.from_env() if settings is None else settings
    metrics = Metrics() if metrics is None else metrics
    store = MariaDBStore(settings, metrics) if store is None else store

    app = falcon.asgi.App(middleware=[RequestMetrics(metrics)])
    app.add_middleware(CloseAtShutdown(store))
    app.set_error_serializer(_serialize_error)
    app.add_error_handler(StoreUnavailable, _database_unavailable)
    app.add_route("/", GreetingResource(store, settings.replica_name))
    app.add_route("/visits", VisitsResource(store))
    app.add_route("/healthz", LivenessResource())
    app.add_route("/readyz", ReadinessResource(store))
    app.add_route("/metrics", MetricsResource(metrics))
    return app


class CloseAtShutdown:
    """Closes the store when the server shuts the app down (the ASGI lifespan's
    shutdown comes after the last request has been answered)."""

    def __init__(self, store: VisitStore) -> None:
        self._store = store

    async def process_shutdown(self, scope: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        await self._store.close()


async def _database_unavailable(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response,
    error: StoreUnavailable,
    params: dict[str, Any],
) -> None:
    # Any responder's StoreUnavailable becomes one 503. Raising an HTTPError
    # (rather than filling resp here) lets Falcon's own handler answer it
    # through _serialize_error, like every other error. "from None": the
    # store's reason is the whole story; no traceback is chained to it.
    raise falcon.HTTPServiceUnavailable(
        title="database unavailable",
        description=str(error),
        retry_after=RETRY_AFTER_SECONDS,
    ) from None


def _serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    # Errors speak the same format as successes: one line of text by default,
    # a small JSON object when the client prefers JSON.
    resp.content_type, resp.text = render.error_body(req, error.title, error.description)
    resp.append_header("Vary", "Accept")
