# Glassbox's image: the serving package, the bundled model and the locked runtime dependencies,
# run as a non-root numeric user on a read-only root filesystem (README: "The container image").
#
# The build needs no network: everything comes from the build context, which `make image-context`
# fills on the host (.run/image/context/): the pinned uv, the runtime dependencies exported from
# uv.lock with their hashes and their wheels, and Debian's libgomp1 (LightGBM's wheel links
# libgomp.so.1 and bundles none). `make image` builds it; `make test-image` builds it on a
# Debian 12 minbase with python3 only and runs it as the cluster does.
#
# Only `python3` on PATH is used: Debian's has no pip, venv or ensurepip, and uv makes the venv.

# An official slim Python 3.11, by tag. To pin it by digest where the registry is reachable:
#   podman image inspect --format '{{.Digest}}' docker.io/library/python:3.11-slim-bookworm
# (after a pull), then BASE=python:3.11-slim-bookworm@sha256:<that digest>.
ARG BASE=python:3.11-slim-bookworm

# --- native libraries the wheels link and do not bundle ---------------------------------------
FROM ${BASE} AS native
COPY .run/image/context/debs/ /tmp/debs/
# dpkg-deb only unpacks the archive: nothing is installed into this stage's own tree.
RUN for deb in /tmp/debs/*.deb; do dpkg-deb --extract "$deb" /opt/native; done

# --- the virtual environment, from the lock's hashes ------------------------------------------
FROM ${BASE} AS venv
COPY .run/image/context/uv /usr/local/bin/uv
COPY .run/image/context/requirements.txt /tmp/requirements.txt
COPY .run/image/context/wheels/ /tmp/wheels/
ENV UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN uv venv --python python3 /opt/venv \
    && uv pip sync --python /opt/venv/bin/python --offline --no-index --find-links /tmp/wheels \
       --require-hashes --compile-bytecode /tmp/requirements.txt \
    && mkdir -p /tmp/run-glassbox/metrics /tmp/run-glassbox/tmp

# --- the service ------------------------------------------------------------------------------
FROM ${BASE}
COPY --from=native /opt/native/usr/lib/ /usr/lib/
COPY --from=venv /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py ./
COPY models/ ./models/
COPY app/ ./app/
# The compiled engine of the bundled model, built here once (for the x86-64-v2 baseline, which
# its manifest records: a host that lacks it serves with LightGBM) into a path the user cannot
# write (README: Model engine). lleaves brings LLVM in llvmlite's wheel: no compiler, no network.
RUN PYTHONDONTWRITEBYTECODE=1 /opt/venv/bin/python -m app.model.engine_build \
      --model-dir /app/models/churn --out /opt/glassbox/engine
# The pod contract (k8s/overlays/prod renders the same values): the user, the two volumes'
# paths, the ports. The volumes' directories exist here so that a plain `docker run` works too;
# on Kubernetes and in `make test-image` each is a memory-backed mount.
COPY --from=venv --chown=10001:10001 /tmp/run-glassbox/ /run/glassbox/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/run/glassbox/metrics \
    GLASSBOX_WORKER_TMP_DIR=/run/glassbox/tmp \
    GLASSBOX_MODEL_DIR=/app/models/churn \
    GLASSBOX_MODEL_ENGINE_DIR=/opt/glassbox/engine \
    GLASSBOX_ADMIN_PORT=9000 \
    GLASSBOX_LOG_FORMAT=json \
    PORT=8000
EXPOSE 8000 9000
USER 10001:10001
# No HEALTHCHECK: Kubernetes ignores it and runs the manifests' probes (/healthz, /readyz), and
# podman's default OCI format drops it; under Docker it would be a second, different opinion of
# the container's health (/readyz turns 503 during the drain, on purpose). compose.yaml declares
# its own check where Docker needs one.
# Exec form: the gunicorn master that drains on SIGTERM is PID 1 (README: Shutdown and rollouts).
ENTRYPOINT ["python", "-m", "app.serve", "--config", "gunicorn.conf.py"]
