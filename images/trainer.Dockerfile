# GPU trainer for sft and rl: CUDA, torch, flash-attn, DeepSpeed, vLLM, transformers.
# flash-attn compiles against the CUDA toolkit, so the build stage uses the devel
# image; the runtime stage copies the installed environment onto the runtime image.
#   docker build -f images/trainer.Dockerfile -t thyme-trainer:0.1.0 .
FROM nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04 AS build

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAX_JOBS=8
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.12 python3.12-venv python3.12-dev git build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python3.12 -m venv /opt/thyme
ENV PATH=/opt/thyme/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY operator/ operator/
COPY jobs/ jobs/
COPY sandbox/ sandbox/
COPY cli/ cli/
COPY tools/ tools/
# torch first: flash-attn and DeepSpeed build against the installed torch. Every package
# the lock (constraints.txt, see tests/env/lock.sh) names is installed at its locked version.
RUN pip install -c constraints.txt torch \
 && pip install -c constraints.txt --no-build-isolation ".[gpu]"

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/thyme/bin:$PATH
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.12 libgl1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/thyme /opt/thyme
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin thyme
USER 10001
WORKDIR /home/thyme
ENTRYPOINT ["thyme"]
