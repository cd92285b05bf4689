# The operator: kopf + the kubernetes client, no ML libraries (DESIGN.md: the
# operator's image must not need torch). Build from the repository root:
#   docker build -f images/operator.Dockerfile -t thyme-operator:0.1.0 .
# BASE_IMAGE: any Debian bookworm with python3.11 and pip on PATH; the tests build
# one from Debian packages (tests/env/build-images.sh) because they have no registry.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first, from the project metadata alone (empty package directories), so
# a source edit rebuilds only the small layer below. A builder may bind a pip cache at
# /pip-cache (the tests do, to download torch once); without one pip caches nothing.
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir -p operator jobs sandbox cli tools \
 && if [ -d /pip-cache ]; then export PIP_CACHE_DIR=/pip-cache; unset PIP_NO_CACHE_DIR; fi \
 && pip install -c constraints.txt ".[operator]" && pip uninstall -y thyme-k8s
COPY operator/ operator/
COPY jobs/ jobs/
COPY sandbox/ sandbox/
COPY cli/ cli/
COPY tools/ tools/
RUN if [ -d /pip-cache ]; then export PIP_CACHE_DIR=/pip-cache; unset PIP_NO_CACHE_DIR; fi \
 && pip install --no-deps . && rm -rf /src

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin thyme
USER 10001
WORKDIR /home/thyme
ENTRYPOINT ["thyme", "operator"]
