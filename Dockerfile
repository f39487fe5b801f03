# imagecheck: multi-stage build. Stage 1 builds wheels (dependencies first, for layer caching);
# stage 2 is a slim runtime with no build tools, no sources and no secrets, running as a numeric user.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies change less often than code: build their wheels from pyproject alone first.
COPY pyproject.toml README.md ./
RUN mkdir bot && touch bot/__init__.py \
    && pip wheel --wheel-dir /wheels . \
    && rm -f /wheels/imagecheck-*.whl
# Then the application itself, as the same wheel the tests install from this pyproject.
COPY bot ./bot
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm AS runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PORT=3000
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels /wheels/imagecheck-*.whl \
    && rm -rf /wheels
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=2)"]
ENTRYPOINT ["imagecheck"]
CMD ["serve"]
