# syntax=docker/dockerfile:1.7
# The processor image: `processor` as a non-root user, `run` by default, health checked on /healthz.
# Stage 1 installs the pinned dependencies (requirements.lock, every file checked against its
# hash) and then the package alone into a virtualenv; stage 2 copies that virtualenv, so
# compilers and build caches never reach the final image. Pin the base image by version (and,
# for fully reproducible builds, by digest: python:3.11.13-slim-bookworm@sha256:...).
#
#   docker build --build-arg VERSION="$(scripts/version)" -t kafka-record-processor .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/processor
WORKDIR /src
# The dependencies first: their layer is rebuilt only when the lock file changes.
COPY requirements.lock ./
RUN /opt/processor/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY processor ./processor
# Everything it needs is installed already: the package alone, nothing resolved again.
RUN /opt/processor/bin/pip install --no-deps .

FROM ${PYTHON_IMAGE}
# The release this image is: `scripts/version` prints pyproject.toml's version.
ARG VERSION=unknown
LABEL org.opencontainers.image.title="kafka-record-processor" \
      org.opencontainers.image.description="At-least-once Kafka stream processor: validate, route, dead-letter, with pause/resume backpressure." \
      org.opencontainers.image.source="https://github.com/example/kafka-record-processor" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV PATH=/opt/processor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROCESSOR_LOG_FORMAT=json \
    PROCESSOR_HTTP_PORT=8080
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin processor
COPY --from=build /opt/processor /opt/processor
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
# No curl in slim images: the standard library's urllib fails on anything but a 2xx answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PROCESSOR_HTTP_PORT', '8080') + '/healthz', timeout=4)"]
# SIGTERM drains in-flight records within PROCESSOR_SHUTDOWN_TIMEOUT_S (30 s by default) and
# commits: give the container a stop grace period longer than that.
STOPSIGNAL SIGTERM
# Any command of the CLI: `docker run IMAGE dlq list`, `docker run IMAGE topics ensure`.
ENTRYPOINT ["processor"]
CMD ["run"]
