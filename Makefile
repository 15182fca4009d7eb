# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# The one entry point for building, testing and releasing kaniko-rs.

.PHONY: all build test test-nats-current chaos lint fmt deps release bench demo fidelity image

all: build

build:
	cargo build --workspace --locked --release

test:
	hack/test.sh

# The NATS-facing end-to-end tests again, against nats-server 2.15 (`make test` runs them
# against Debian's 2.9.10).
test-nats-current:
	hack/test-nats-current.sh

# The seeded chaos test with 40 builds (`make test` runs it with 5) and a random seed, unless
# CHAOS_SEED / CHAOS_BUILDS say otherwise: `CHAOS_SEED=17 CHAOS_BUILDS=40 make chaos` replays a run.
chaos:
	hack/chaos.sh

lint:
	hack/lint.sh

fmt:
	hack/fmt.sh

deps:
	hack/deps.sh

bench:
	hack/bench.sh $(BENCH_ARGS)

fidelity:
	hack/fidelity.sh

release:
	hack/release.sh

demo:
	hack/demo.sh

# The kaniko-rs image for linux/amd64 and linux/arm64, built by our own worker and pushed to
# $(IMAGE) as one index (hack/image.sh says which platform it had to skip, and why).
image:
	hack/image.sh
