"""HTTP resources: one small class per route, the store injected.

None of them catches the store's StoreUnavailable: the app's error handler
(api/app.py) turns it into the same 503 for every route."""

from __future__ import annotations

import falcon
import falcon.asgi

from api import render
from api.greeting import greeting_text
from api.store import VisitStore


class GreetingResource:
    """GET /: count one visit for this replica, answer with every count."""

    def __init__(self, store: VisitStore, replica: str) -> None:
        self._store = store
        self._replica = replica

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        counts = await self._store.record_visit(self._replica)
        if render.wants_json(req):
            resp.content_type = falcon.MEDIA_JSON
            resp.text = render.counts_json(self._replica, counts)
        else:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = greeting_text(self._replica, counts)
        # Each answer is a fresh count: no cache may replay it. The format
        # follows Accept, and Vary says so to anything in between.
        resp.cache_control = ["no-store"]
        resp.vary = ["Accept"]


class VisitsResource:
    """GET /visits: the counts as JSON, counting nothing."""

    def __init__(self, store: VisitStore) -> None:
        self._store = store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        counts = await self._store.counts()
        resp.content_type = falcon.MEDIA_JSON
        resp.text = render.counts_json(None, counts)
        resp.cache_control = ["no-store"]


class LivenessResource:
    """GET /healthz: the process serves. Never touches the database, so a
    database outage cannot make Kubernetes restart healthy replicas."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "ok\n"


class ReadinessResource:
    """GET /readyz: the database answers within the timeout."""

    def __init__(self, store: VisitStore) -> None:
        self._store = store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        await self._store.ping()
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "ready\n"
