# The dashboard in a container. See docs/deployment.md.
#
#   docker build -t icans-explorer .
#   docker run -d --name icans -p 8501:8501 \
#     -v icans-library:/data/library \
#     -v "$PWD/secrets.toml:/app/.streamlit/secrets.toml:ro" \
#     icans-explorer
#
# Secrets (.streamlit/secrets.toml: [auth] or [access]) are mounted at run time, never baked in:
# .dockerignore keeps every secrets.toml out of the build context.

# The base image is a build argument only so that a registry mirror can stand in for Docker Hub.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

# ICANS_LIBRARY_DIR: published cohorts (one DuckDB file each) live on a volume, shared by every
# replica. ICANS_CACHE_DIR: the deployment cohort, validated once and kept for the next start
# (icans_core/shared_cache.py); a volume makes a restart open it at once. Production: nothing in the image changes, so no file watching and no rerun on save.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ICANS_LIBRARY_DIR=/data/library \
    ICANS_CACHE_DIR=/data/cache \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    STREAMLIT_SERVER_RUN_ON_SAVE=false \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app

# Dependencies first, so that editing the app does not reinstall them. Only the app's own:
# the test tools are in requirements-test.txt.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# An unprivileged user that owns nothing but the library volume (and DuckDB's spill folder:
# an in-memory DuckDB database spills to ".tmp" under the working directory).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app \
    && mkdir -p /data/library /data/cache /app/.tmp \
    && chown app:app /data/library /data/cache /app/.tmp \
    && chmod 700 /data/cache

# Only what the app reads at run time (owned by root, read-only for the app user).
COPY pyproject.toml dashboard.py serve.py ./
COPY .streamlit/config.toml .streamlit/config.toml
COPY icans_core icans_core
COPY ui ui
COPY views views
COPY data data

USER app
VOLUME ["/data/library", "/data/cache"]
EXPOSE 8501

# python:3.11-slim has no curl: ask Streamlit's health endpoint with the standard library.
# urlopen raises on anything but a 2xx (Streamlit answers 503 while it is not ready).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4)"]

# Extra Streamlit flags can be appended: docker run ... icans-explorer --server.baseUrlPath=icans
ENTRYPOINT ["streamlit", "run", "serve.py", "--server.port=8501", "--server.address=0.0.0.0"]
