# The operator: kopf + the kubernetes client, no ML libraries (DESIGN.md: the
# operator's image must not need torch). Build from the repository root:
#   docker build -f images/operator.Dockerfile -t thyme-operator:0.1.0 .
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
RUN pip install -c constraints.txt ".[operator]" && rm -rf /src

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin thyme
USER 10001
WORKDIR /home/thyme
ENTRYPOINT ["thyme", "operator"]
