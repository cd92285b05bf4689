# The vision tool servers (`thyme tools serve`, `thyme tools front`): OpenThinkIMG's
# worker API. CPU torch and transformers for the model-backed tools; a tool that asks
# for GPUs runs in the trainer image instead. Non-root; the Deployment mounts emptyDirs
# for /tmp and the model cache, so the root filesystem can stay read-only.
#   docker build -f images/tools.Dockerfile -t thyme-tools:0.1.0 .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY operator/ operator/
COPY jobs/ jobs/
COPY sandbox/ sandbox/
COPY cli/ cli/
COPY tools/ tools/
# CPU wheels of torch first (the default index would pull the CUDA build, gigabytes), at
# the lock's version (constraints.txt; a +cpu local version satisfies its pin).
RUN pip install -c constraints.txt --index-url https://download.pytorch.org/whl/cpu torch \
 && pip install -c constraints.txt ".[tools,train]" && rm -rf /src

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin thyme
USER 10001
WORKDIR /home/thyme
EXPOSE 8080
ENTRYPOINT ["thyme", "tools"]
