# syntax=docker/dockerfile:1.7
# videoapi image: the API (`serve`, the default command), workers (`worker --queues cpu|gpu`) and
# migrations (`db upgrade`) from one image; see deploy/docker/entrypoint.sh and docs/OPERATIONS.md.
#
#   docker build -t videoapi:cpu .                                # CPU torch (editing, CPU generation)
#   docker build --build-arg VARIANT=cuda -t videoapi:cuda .      # CUDA torch for GPU workers
#   docker build --build-arg VARIANT=cuda --build-arg EXTRAS=quantization -t videoapi:cuda .
#                                                                 # + torchao, for models with `quantize`
#
# The CUDA variant needs no CUDA base image: torch's CUDA wheels pull the CUDA runtime libraries
# (cuBLAS, cuDNN, NCCL, ...) in as nvidia-* wheels into the venv, so the runtime stays python slim.
# The host needs only the NVIDIA driver and the NVIDIA Container Toolkit (`--gpus all`, or the
# device reservation in docker-compose.yml, or the device plugin on Kubernetes).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG VARIANT=cpu
# Optional extras of pyproject.toml, comma-separated (`quantization`: torchao); none by default.
ARG EXTRAS=""
ARG TORCH_VERSION=2.13.0
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_CUDA_INDEX=https://download.pytorch.org/whl/cu128
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# torch first, from PyTorch's index for the variant; the project's `torch==2.13.0` pin is then
# already satisfied (2.13.0+cpu or +cu12x), so PyPI never swaps in another build.
RUN --mount=type=cache,target=/root/.cache/pip \
    case "$VARIANT" in \
      cpu) index="$TORCH_CPU_INDEX" ;; \
      cuda) index="$TORCH_CUDA_INDEX" ;; \
      *) echo "VARIANT must be cpu or cuda, got '$VARIANT'" >&2; exit 1 ;; \
    esac \
    && pip install --index-url "$index" "torch==$TORCH_VERSION"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Non-editable: the package lands in the venv's site-packages; config/ and migrations/ are found
# through VIDEOAPI_HOME. ffmpeg comes with the imageio-ffmpeg wheel (no apt ffmpeg).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install .${EXTRAS:+"[$EXTRAS]"} \
    && python -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())"

FROM ${PYTHON_IMAGE} AS runtime
ARG VARIANT=cpu
LABEL org.opencontainers.image.title=videoapi io.videoapi.variant=$VARIANT
# espeak-ng (narration), fontconfig + Noto CJK + DejaVu (text overlays, subtitles), tini (PID 1:
# forwards SIGTERM so workers drain, reaps ffmpeg children).
COPY scripts/install-system-deps.sh /tmp/install-system-deps.sh
RUN apt-get update \
    && /tmp/install-system-deps.sh \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* /tmp/install-system-deps.sh
RUN groupadd --system --gid 10001 videoapi \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/videoapi --shell /usr/sbin/nologin videoapi \
    && mkdir -p /var/lib/videoapi \
    && chown 10001:10001 /var/lib/videoapi
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
COPY migrations ./migrations
COPY alembic.ini ./
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/entrypoint.sh
# Everything the processes write goes under the volume, so the root filesystem can be read-only.
# Production by default: `serve` and `worker` refuse placeholder secrets and create no first key;
# /metrics is served on its own port (9100), off the API port.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIDEOAPI_HOME=/app \
    VIDEOAPI_SERVER__ENVIRONMENT=production \
    VIDEOAPI_METRICS__LISTEN=0.0.0.0:9100 \
    VIDEOAPI_SERVER__HOST=0.0.0.0 \
    VIDEOAPI_SERVER__VAR_DIR=/var/lib/videoapi \
    HF_HOME=/var/lib/videoapi/hf \
    XDG_CACHE_HOME=/var/lib/videoapi/cache \
    HOME=/var/lib/videoapi
USER 10001:10001
VOLUME ["/var/lib/videoapi"]
EXPOSE 8000 9100
# Liveness of `serve`; worker containers override it (their metrics port) in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VIDEOAPI_SERVER__PORT', '8000') + '/health', timeout=4)"]
ENTRYPOINT ["tini", "--", "entrypoint.sh"]
CMD ["serve"]
