# ortserve images. One Dockerfile, three targets (BuildKit builds only the stages a target needs):
#
#   docker build -t ortserve:cpu .                        # default target `cpu`: python:3.11-slim + onnxruntime
#   docker build --target gpu -t ortserve:gpu .           # CUDA 13 + cuDNN 9 + onnxruntime-gpu (never onnxruntime)
#   docker build --target loadtest -t ortserve:loadtest . # cpu image + the load-test client and its sample data
#
# BuildKit is required (Docker 23+ uses it by default; on 20.10 set DOCKER_BUILDKIT=1): the legacy
# builder builds every stage, the CUDA one included, for any target. There is deliberately no
# `# syntax=` line: it would make BuildKit pull a frontend image, and the built-in frontend of
# Docker 20.10+ reads this file as it is, so no registry is needed beyond the base images.
# Without a registry: scripts/docker-base.sh builds PYTHON_IMAGE from Debian's packages, then
#   DOCKER_BUILDKIT=1 docker build --network host --build-arg PYTHON_IMAGE=ortserve-base/python:3.11-bookworm -t ortserve:cpu .
#
# Every dependency version comes from deploy/constraints.txt (regenerate with deploy/lock.sh).
# Configuration is environment only (ORTSERVE_*); the server is PID 1 in exec form, so the
# SIGTERM of `docker stop` / Kubernetes reaches uvicorn directly and drains accepted requests
# for ORTSERVE_DRAIN_TIMEOUT_S (default 30 s: keep the orchestrator's grace period longer).
# tests/deploy/test_image_venv.py replays the builder's RUN lines and this CMD/HEALTHCHECK outside Docker;
# tests/deploy/test_compose_engine.py builds and runs them on a real engine.

# Any Debian-based Python 3.11 with venv, python on PATH and apt: the official slim image, or
# scripts/docker-base.sh's ortserve-base/python:3.11-bookworm (Debian's own Python 3.11).
ARG PYTHON_IMAGE=python:3.11-slim
# onnxruntime-gpu 1.31 wheels are built against CUDA 13.x and cuDNN 9.x (their `cuda` and
# `cudnn` extras require nvidia-cuda-runtime~=13.0 and nvidia-cudnn-cu13~=9.0), so the GPU
# base must be a CUDA 13 *cudnn runtime* image: its libcudart/cublas/cufft/curand and libcudnn9
# satisfy the CUDA execution provider without those multi-GB pip extras. Host driver >= 580.
# Tags follow <cuda x.y.z>-cudnn-runtime-ubuntu<release>; Ubuntu 24.04 ships Python 3.12,
# for which every pin in deploy/constraints.txt has a wheel (tests/deploy check the resolution).
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------
# CPU builder: a virtual environment in /opt/venv, copied whole into the runtime stage.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY deploy/constraints.txt deploy/constraints.txt
COPY pyproject.toml README.md ./
COPY service service
# Build dependencies (setuptools, wheel) are installed pinned first and the project is built
# without build isolation, so the build is as reproducible as the runtime dependencies.
# `.` has no extras: its runtime dependencies include onnxruntime (CPU) and never torch.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --constraint deploy/constraints.txt setuptools wheel \
    && /opt/venv/bin/pip install --no-cache-dir --constraint deploy/constraints.txt --no-build-isolation . \
    && /opt/venv/bin/pip check

# ---------------------------------------------------------------------------------------------
# Fonts for the attention heatmaps' labels (service/friendly/heatmap.py): Debian's Noto Sans Arabic,
# Hebrew, Devanagari and Thai and WenQuanYi Micro Hei (CJK and Hangul). Only those five files
# and their licences reach the runtime image (about 3 MB, not the packages' 47 MB).
FROM ${PYTHON_IMAGE} AS fonts
# Versions come from the pinned base image's Debian release, as in the GPU stages.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------------------------
# CPU runtime: no compilers (slim has none and nothing is apt-installed here), no torch, non-root.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 ortserve \
    && useradd --system --uid 10001 --gid ortserve --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin ortserve
COPY --from=fonts /usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf \
     /usr/share/fonts/truetype/noto/NotoSansHebrew-Regular.ttf \
     /usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf \
     /usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf \
     /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/truetype/ortserve/
COPY --from=fonts /usr/share/doc/fonts-noto-core/copyright /usr/share/doc/fonts-noto-core/copyright
COPY --from=fonts /usr/share/doc/fonts-wqy-microhei/copyright /usr/share/doc/fonts-wqy-microhei/copyright
COPY --from=builder /opt/venv /opt/venv
# Baked, root-owned and read-only for the server; compose/Kubernetes may mount another repository here.
COPY models/repository /app/models/repository
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORTSERVE_HOST=0.0.0.0 \
    ORTSERVE_PORT=8000 \
    ORTSERVE_GRPC_PORT=8001 \
    ORTSERVE_REPOSITORY=/app/models/repository
WORKDIR /app
USER 10001:10001
# HTTP, then gRPC (the Open Inference Protocol's gRPC service, Triton's port).
EXPOSE 8000 8001
# slim has no curl: python's urllib raises (exit 1) on a refused connection or a 503 "not ready".
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('ORTSERVE_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]

# ---------------------------------------------------------------------------------------------
# GPU: onnxruntime-gpu INSTEAD of onnxruntime. Both wheels install the same `onnxruntime`
# Python package, so having both breaks whichever was installed first, and uninstalling one
# afterwards deletes files of the other. The clean way is to never install the CPU wheel:
# the project goes in with --no-deps and its dependencies come from deploy/requirements-gpu.txt
# (pyproject's runtime dependencies with onnxruntime-gpu in place of onnxruntime, same pins).
FROM ${CUDA_IMAGE} AS gpu-base
ENV DEBIAN_FRONTEND=noninteractive
# Ubuntu's python3 only: no compilers, no -dev packages. Versions come from the pinned CUDA
# base image's Ubuntu release; apt pins (DL3008) would break whenever Ubuntu publishes a fix.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

FROM gpu-base AS gpu-builder
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY deploy/constraints.txt deploy/requirements-gpu.txt deploy/
COPY pyproject.toml README.md ./
COPY service service
# The last line fails the build if the CPU wheel slipped in or the CUDA provider is missing
# (get_available_providers lists compiled-in providers; it needs no GPU at build time).
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --constraint deploy/constraints.txt setuptools wheel \
    && /opt/venv/bin/pip install --no-cache-dir --constraint deploy/constraints.txt --no-build-isolation --no-deps . \
    && /opt/venv/bin/pip install --no-cache-dir --requirement deploy/requirements-gpu.txt \
    && /opt/venv/bin/python -c "import importlib.metadata as md, onnxruntime as ort; names = {d.metadata['Name'].lower() for d in md.distributions()}; assert 'onnxruntime' not in names, 'CPU onnxruntime installed beside onnxruntime-gpu'; assert 'CUDAExecutionProvider' in ort.get_available_providers(), ort.get_available_providers()"

FROM gpu-base AS gpu
RUN groupadd --system --gid 10001 ortserve \
    && useradd --system --uid 10001 --gid ortserve --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin ortserve
COPY --from=fonts /usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf \
     /usr/share/fonts/truetype/noto/NotoSansHebrew-Regular.ttf \
     /usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf \
     /usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf \
     /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/truetype/ortserve/
COPY --from=fonts /usr/share/doc/fonts-noto-core/copyright /usr/share/doc/fonts-noto-core/copyright
COPY --from=fonts /usr/share/doc/fonts-wqy-microhei/copyright /usr/share/doc/fonts-wqy-microhei/copyright
COPY --from=gpu-builder /opt/venv /opt/venv
COPY models/repository /app/models/repository
# ORTSERVE_PROVIDER=cuda: refuse to serve a model that silently fell back to the CPU.
# CUDA_CACHE_PATH: the kernel JIT cache goes to /tmp (the root filesystem may be read-only).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORTSERVE_HOST=0.0.0.0 \
    ORTSERVE_PORT=8000 \
    ORTSERVE_GRPC_PORT=8001 \
    ORTSERVE_REPOSITORY=/app/models/repository \
    ORTSERVE_PROVIDER=cuda \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    CUDA_CACHE_PATH=/tmp/cuda-cache
WORKDIR /app
USER 10001:10001
# HTTP, then gRPC (the Open Inference Protocol's gRPC service, Triton's port).
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('ORTSERVE_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]

# ---------------------------------------------------------------------------------------------
# Load-test client (compose profile `loadtest`): the cpu runtime plus scripts/ (with its vendored
# digits and sentences), the data loaders of models/ and tqdm for progress bars. The vowels data
# needs aeon, which is not installed: use --input-file for those models.
FROM runtime AS loadtest
USER 0
COPY deploy/constraints.txt /tmp/constraints.txt
COPY deploy/loadtest.in /tmp/loadtest.in
# /results: owned by the runtime user so a fresh named volume mounted there is writable.
RUN pip install --no-cache-dir --constraint /tmp/constraints.txt --requirement /tmp/loadtest.in \
    && rm /tmp/constraints.txt /tmp/loadtest.in \
    && mkdir /results \
    && chown 10001:10001 /results
COPY scripts /app/scripts
COPY models/*.py /app/models/
USER 10001:10001
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "scripts.loadtest"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
# Default target (last stage): the CPU server.
FROM runtime AS cpu
