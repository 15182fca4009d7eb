# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# The kaniko-rs image: `worker` (the entry point, as Kaniko's executor is in its image) and
# `coordinator`, on no base: the binaries, the shared libraries they link (from the build
# host's C library for that architecture), CA certificates. Built by our own worker through
# `make image` (hack/image.sh), which stages the context: bin/<arch>/{worker,coordinator}
# and rootfs/<arch>/, each checked to be built for <arch>; an architecture it could not build
# is left out of the index, never filled with another's binary. No RUN: every platform is
# built on any host (cross-safe), and nothing in it needs QEMU.
FROM scratch
ARG TARGETARCH
COPY rootfs/${TARGETARCH}/ /
COPY bin/${TARGETARCH}/worker bin/${TARGETARCH}/coordinator /kaniko/
ENV PATH=/kaniko \
    HOME=/root \
    DOCKER_CONFIG=/kaniko/.docker \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /workspace
ENTRYPOINT ["/kaniko/worker"]
