"""ASGI entry point: ``api.asgi:app``, named by gunicorn.conf.py's ``wsgi_app``."""

from __future__ import annotations

from api.accesslog import AccessLog
from api.app import create_app
from api.settings import ServerSettings, Settings, SettingsError

try:
    _settings = Settings.from_env()
    app = AccessLog(
        create_app(_settings),
        replica=_settings.replica_name,
        log_format=ServerSettings.from_env().log_format,
    )
except SettingsError as exc:
    # One clear line instead of a traceback; gunicorn's config normally
    # catches this earlier, this covers any other ASGI server.
    raise SystemExit(f"visit-counter: {exc}") from None
