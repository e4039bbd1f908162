# Build a wheel in one stage, install it into a clean slim image in the next (no build tools there).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY processor ./processor
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 processor
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER processor
ENV PYTHONUNBUFFERED=1 PROCESSOR_LOG_FORMAT=json
# SIGTERM drains within PROCESSOR_SHUTDOWN_TIMEOUT_S (30 s by default); give it more than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["processor", "run"]
