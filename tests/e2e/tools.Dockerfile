# syntax=docker/dockerfile:1.7
# The kind e2e's helper image (tests/e2e/kind_e2e.py builds it as modelsync-e2e/tools:e2e and
# loads it into the cluster): git, whose `git daemon` serves the clusters repo to the
# controller from a pod, and curl, which makes requests from inside the cluster (the vLLM
# Service, the controller's webhook). Debian's git package includes git-daemon.
ARG DEBIAN_IMAGE=debian:trixie-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl git \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system safe.directory '*' \
 && test -x /usr/lib/git-core/git-daemon
