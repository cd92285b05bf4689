# The code sandbox service. Runs under the gvisor RuntimeClass in a cluster; inside,
# each session's worker gets its own uid and rlimits. Non-root, read-only root
# filesystem at run time (the chart mounts an emptyDir for scratch).
#   docker build -f images/sandbox.Dockerfile -t thyme-sandbox:0.1.0 .
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
RUN pip install -c constraints.txt ".[sandbox]" && rm -rf /src

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin thyme
USER 10001
WORKDIR /home/thyme
EXPOSE 8080
ENTRYPOINT ["thyme", "sandbox", "serve", "--host", "0.0.0.0", "--port", "8080", "--launcher", "process"]
