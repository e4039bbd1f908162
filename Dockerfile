# syntax=docker/dockerfile:1.7
# The processor image: `processor run` as a non-root user, health checked on /healthz.
# Stage 1 builds wheels for the package and its dependencies; stage 2 installs only those wheels,
# so compilers and build caches never reach the final image. Pin the base image by version (and,
# for fully reproducible builds, by digest: python:3.11.13-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY processor ./processor
# With the archive extra (pyarrow), so `processor archive` runs in the image too.
RUN pip wheel --wheel-dir /wheels '.[archive]'

FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PROCESSOR_LOG_FORMAT=json \
    PROCESSOR_HTTP_PORT=8080
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin processor
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
# No curl in slim images: the standard library's urllib fails on anything but a 2xx answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PROCESSOR_HTTP_PORT', '8080') + '/healthz', timeout=4)"]
# SIGTERM drains in-flight records within PROCESSOR_SHUTDOWN_TIMEOUT_S (30 s by default) and
# commits: give the container a stop grace period longer than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["processor", "run"]
