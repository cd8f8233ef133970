# The hotline as a container: `hotline serve` (webhooks, /healthz, /readyz, /metrics, the
# public pages and Open311) as a non-root user. See docs/deploy.md.
#
#   docker build -t pollution-hotline .
#   docker run --env-file .env -p 8080:8080 pollution-hotline                 # serve
#   docker run --env-file .env pollution-hotline hotline db upgrade           # one-off migration
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md LICENSE alembic.ini ./
COPY bot ./bot
COPY handlers ./handlers
COPY models ./models
COPY migrations ./migrations
RUN pip install . && rm -rf /build

RUN useradd --system --uid 10001 --user-group --home-dir /srv/hotline --create-home hotline \
    && install -d -o hotline -g hotline -m 0700 /srv/hotline/media
USER hotline
WORKDIR /srv/hotline

# Listen on every interface inside the container; publish the port to the proxy only.
ENV HOTLINE_SERVE_HOST=0.0.0.0 \
    HOTLINE_SERVE_PORT=8080 \
    HOTLINE_MEDIA_DIR=/srv/hotline/media
EXPOSE 8080
VOLUME ["/srv/hotline/media"]

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# `hotline serve` applies the migrations first (one worker at a time, under a PostgreSQL
# advisory lock); `hotline serve --no-migrate` when a deploy step runs `hotline db upgrade`.
CMD ["hotline", "serve"]
