"""Content negotiation and the two answer formats (text and JSON)."""

from __future__ import annotations

import json

import falcon

from api.store import Counts


def wants_json(req: falcon.Request) -> bool:
    """JSON only when the client prefers it to plain text.

    Text is the default: Falcon breaks ties in favour of the first type listed,
    so ``*/*``, a browser's Accept, or one naming neither gets text.
    """
    return req.client_prefers(["text/plain", falcon.MEDIA_JSON]) == falcon.MEDIA_JSON


def counts_json(replica: str | None, counts: Counts) -> str:
    document: dict[str, object] = {}
    if replica is not None:
        document["replica"] = replica
    document["visits"] = dict(counts)
    document["total"] = sum(count for _, count in counts)
    return json.dumps(document, ensure_ascii=False)


def error_body(req: falcon.Request, title: str, description: str | None) -> tuple[str, str]:
    """One line in the negotiated format: (content type, body)."""
    reason = f"{title}: {description}" if description else title
    if wants_json(req):
        return falcon.MEDIA_JSON, json.dumps({"error": reason}, ensure_ascii=False)
    return falcon.MEDIA_TEXT, reason + "\n"
