"""gunicorn settings, read automatically by ``gunicorn api.wsgi:app`` from the
repository root (and from /app in the image). A ``--bind`` on the command line
wins over ``bind`` here, as gunicorn gives the command line the last word."""

import logging
import sys

from api.settings import ServerSettings, Settings, SettingsError

try:
    # Validate the app's settings here too: this runs once in the master, so a
    # bad value stops start-up with one line instead of a worker boot loop.
    Settings.from_env()
    _server = ServerSettings.from_env()
except SettingsError as _exc:
    sys.exit(f"visit-counter: {_exc}")

bind = ["0.0.0.0:8000"]
worker_class = "gthread"
workers = _server.workers
threads = _server.threads

# SIGTERM (docker stop, a pod's termination) stops accepting, lets requests in
# flight finish for up to graceful_timeout seconds, then exits: below the 10 s
# Docker waits before SIGKILL (Kubernetes waits 30 s).
graceful_timeout = 8
timeout = 30
keepalive = 5

# Logs go to the container's stdout/stderr, one line per request.
accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
# The same lines, written in batches rather than one write per request: see
# api/accesslog.py (measured with `invoke bench`; README, Performance).
logger_class = "api.accesslog.BufferedAccessLogger"


def worker_exit(server: object, worker: object) -> None:
    """Write the access-log lines a stopping worker still holds."""
    flush = getattr(getattr(worker, "log", None), "flush_access", None)
    if flush is not None:
        flush()


# The app's own warnings (a database outage) go to stderr like gunicorn's, one
# line each. Set up here, in the master, so every forked worker inherits it.
_app_log_handler = logging.StreamHandler(sys.stderr)
_app_log_handler.setFormatter(
    logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
)
logging.getLogger("api").addHandler(_app_log_handler)
logging.getLogger("api").setLevel(logging.INFO)

# gunicorn's runtime control socket defaults to one path per user: replicas
# sharing a user would collide, and the image's root filesystem is read-only.
control_socket_disable = True

# Request limits: generous enough for a browser with large cookies (request
# lines up to 8 KiB, header fields up to 16 KiB), small enough to refuse abuse.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 16380
