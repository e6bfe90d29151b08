# syntax=docker/dockerfile:1
# The assistant in one container: the Procfile's gunicorn, as a user without privileges (README, Deploy).
# The base is pinned to an exact Python release; a registry that can resolve it may pin its digest as well
# (`docker buildx imagetools inspect python:3.11.13-slim-bookworm`).

FROM python:3.11.13-slim-bookworm AS build
# Compilers for a package without a wheel for the build's platform; they stay in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt

FROM python:3.11.13-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    DATA_DIR=/data
RUN groupadd --system --gid 10001 assistant \
 && useradd --system --uid 10001 --gid assistant --no-create-home --home-dir /nonexistent assistant \
 && mkdir /data \
 && chown assistant:assistant /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code stays root's: the app reads it and cannot change it. .dockerignore lets in only what it runs on.
COPY . .
RUN python -m compileall -q bot intents wsgi.py
USER 10001:10001
# The embedded Redis (when REDIS_URL is empty) and the messages kept while Redis is down.
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
# The Procfile's web command; `exec` makes gunicorn the process that gets `docker stop`'s SIGTERM.
CMD ["/bin/sh", "-c", "exec gunicorn wsgi:app --bind 0.0.0.0:${PORT:-8000} --workers ${WEB_CONCURRENCY:-2} --threads 4 --timeout 15 --graceful-timeout 10"]
