#!/usr/bin/env python3
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
"""Submit a multi-platform build to a kaniko-rs coordinator over NATS and wait for it.

Needs nats-py (`pip install nats-py`). Usage:

    NATS_URL=nats://127.0.0.1:4222 python3 submit.py CONTEXT_DIR DESTINATION PLATFORM...

It tars CONTEXT_DIR, stores it in the KANIKO_CONTEXTS object store under its sha256,
sends the JSON build request to `kaniko.api.submit`, follows `kaniko.events.<build>.*`
and prints the final event as one JSON line. Exit code 0 when the build finished.
"""

import asyncio
import hashlib
import io
import json
import os
import sys
import tarfile

import nats

PREFIX = os.environ.get("KANIKO_PREFIX", "kaniko")
BUCKET = PREFIX.upper().replace("-", "_") + "_CONTEXTS"


def tar_context(directory):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                tar.add(path, arcname=os.path.relpath(path, directory), recursive=False)
    return buffer.getvalue()


async def main(context_dir, destination, platforms):
    nc = await nats.connect(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    js = nc.jetstream()

    tarball = tar_context(context_dir)
    sha256 = hashlib.sha256(tarball).hexdigest()
    store = await js.object_store(BUCKET)
    await store.put(f"sha256:{sha256}", tarball)

    request = {
        "context": {"sha256": sha256, "size": len(tarball)},
        "platforms": platforms,
        "destinations": [destination],
    }
    reply = await nc.request(
        f"{PREFIX}.api.submit",
        json.dumps(request).encode(),
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    answer = json.loads(reply.data)
    if answer.get("error"):
        print(json.dumps(answer["error"]), file=sys.stderr)
        await nc.close()
        return 2
    build_id = answer["build_id"]
    print(f"build {build_id} accepted", file=sys.stderr)

    # Events are kept in a stream: a push consumer from the start misses nothing.
    done = asyncio.get_running_loop().create_future()

    async def on_event(msg):
        event = json.loads(msg.data)
        if event["type"] == "log":
            print(f'{event["platform"]} | {event["line"]}', file=sys.stderr)
        elif event["type"] in ("finished", "failed") and not done.done():
            done.set_result(event)

    await js.subscribe(f"{PREFIX}.events.{build_id}.*", cb=on_event, ordered_consumer=True)
    event = await asyncio.wait_for(done, timeout=float(os.environ.get("TIMEOUT", "600")))
    print(json.dumps(event))
    await nc.close()
    return 0 if event["type"] == "finished" else 1


if __name__ == "__main__":
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:])))
