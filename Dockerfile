# The API image: gunicorn (uvicorn workers) serving api.asgi:app as a non-root user.
# Build stage: a virtualenv installed from the hashed lock file. Wheels only,
# so no compiler is needed here either.
FROM python:3.13-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile --only-binary=:all: --require-hashes \
        -r /tmp/requirements.txt \
    # pip is only needed to build the venv; the runtime image does without.
    && /opt/venv/bin/pip uninstall --yes pip \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# Runtime stage: the venv and the app, nothing else.
FROM python:3.13-slim

LABEL org.opencontainers.image.title="visit-counter-api" \
      org.opencontainers.image.description="Falcon API counting visits per replica in MariaDB" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed numeric UID, so Kubernetes' runAsNonRoot can verify it.
RUN useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py ./
COPY api/ ./api/
RUN python -m compileall -q /app

USER 10001:10001
EXPOSE 8000

# Liveness only: readiness (the database) is the orchestrator's business.
# Python's standard library is the client, so no curl is needed.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

# gunicorn.conf.py names the app and the worker class.
ENTRYPOINT ["gunicorn"]
