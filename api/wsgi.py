"""WSGI entry point: ``gunicorn api.wsgi:app``."""

from __future__ import annotations

from api.app import create_app
from api.settings import Settings, SettingsError

try:
    app = create_app(Settings.from_env())
except SettingsError as exc:
    # One clear line instead of a traceback; gunicorn's config normally
    # catches this earlier, this covers any other WSGI server.
    raise SystemExit(f"visit-counter: {exc}") from None
