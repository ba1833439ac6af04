"""gunicorn settings, read automatically by ``gunicorn`` run from the
repository root (and from /app in the image), with no arguments. A ``--bind``
on the command line wins over ``bind`` here, as gunicorn gives the command
line the last word."""

import logging
import os
import signal
import sys
from typing import Any

from api import metrics_dir
from api.logformat import JsonFormatter, gunicorn_logconfig
from api.settings import ServerSettings, Settings, SettingsError

try:
    # Validate the app's settings here too: this runs once in the master, so a
    # bad value stops start-up with one line instead of a worker boot loop.
    Settings.from_env()
    _server = ServerSettings.from_env()
except SettingsError as _exc:
    sys.exit(f"visit-counter: {_exc}")

# The ASGI app, served by uvicorn's event loop in each gunicorn worker process
# (api/worker.py: uvicorn_worker.UvicornWorker with request limits).
wsgi_app = "api.asgi:app"
worker_class = "api.worker.Worker"
bind = ["0.0.0.0:8000"]
workers = _server.workers

# SIGTERM (docker stop, a pod's termination) stops accepting, lets requests in
# flight finish for up to graceful_timeout seconds, then exits: within the 20 s
# that Compose (stop_grace_period) and Kubernetes (terminationGracePeriodSeconds,
# which also covers the pod's 5 s preStop drain) wait before SIGKILL.
graceful_timeout = 8
timeout = 30
keepalive = 5

# gunicorn's own log (start-up, workers) and uvicorn's errors go to stderr.
# The access log is the app's: one line per request on stdout, written in
# batches (api/accesslog.py), so gunicorn's accesslog stays unset.
# LOG_FORMAT=json makes every line of either one JSON object.
errorlog = "-"
loglevel = "info"
logconfig_dict = gunicorn_logconfig(_server.log_format)


# The app's own warnings (a database outage) go to stderr like gunicorn's, one
# line each. Set up here, in the master, so every forked worker inherits it.
_app_log_handler = logging.StreamHandler(sys.stderr)
_app_log_handler.setFormatter(
    JsonFormatter()
    if _server.log_format == "json"
    else logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
)
logging.getLogger("api").addHandler(_app_log_handler)
logging.getLogger("api").setLevel(logging.INFO)

# gunicorn's runtime control socket defaults to one path per user: replicas
# sharing a user would collide, and the image's root filesystem is read-only.
control_socket_disable = True

# Request limits (request line 8 KiB, a header field 16 KiB, 100 fields, the
# whole head 64 KiB, headers within 10 s) live in api/worker.py: uvicorn reads
# none of gunicorn's limit_request_* settings.


def worker_int(worker: Any) -> None:  # gunicorn's Worker, which is untyped
    """gunicorn's reloader (``--reload``, compose.dev.yaml only) calls this
    when a file a worker loaded has changed. A uvicorn worker never looks at
    the flag gunicorn's reloader clears, so ask it to stop as SIGTERM does:
    it drains, and gunicorn starts a worker that imports the new code."""
    if worker.cfg.reload:
        os.kill(worker.pid, signal.SIGTERM)


# The metrics of every worker, merged at each scrape (api/metrics.py): the
# master makes their directory before any worker starts and exports
# PROMETHEUS_MULTIPROC_DIR, which each forked worker inherits
# (api/metrics_dir.py says where it lives and why).
def on_starting(server: Any) -> None:  # gunicorn's Arbiter, untyped
    if "prometheus_client" in sys.modules:
        # --preload: the app, and the client with it, were imported before
        # the directory existed, so every worker would count on its own.
        sys.exit("visit-counter: --preload is not supported: each worker must load the app itself")
    server.log.info("Metrics directory: %s", metrics_dir.prepare().path)


def child_exit(server: Any, worker: Any) -> None:
    directory = metrics_dir.exported()
    if directory is not None:
        metrics_dir.worker_exited(directory, worker.pid)


def on_exit(server: Any) -> None:
    directory = metrics_dir.exported()
    if directory is not None:
        metrics_dir.remove(directory)
