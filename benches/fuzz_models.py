#!/usr/bin/env python3
"""Mutation fuzz of model loading: valid model files in (a random forest and a ridge model
trained on a generated week), mutated copies out to a running `zonecast run` -- POSTed to
/v1/admin/model and written over the watched model file -- and a report of what happened:
refused, accepted, and whether the server ever crashed or stopped answering /healthz.

Usage: python3 benches/fuzz_models.py [--seconds 180] [--binary target/release/zonecast]
Exits non-zero if the server crashed or hung. Standard library only.
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One of: flip bytes, truncate, insert junk, set a huge varint, duplicate a slice."""
    b = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:
        del b[rng.randrange(len(b)):]
    elif kind == 2:
        at = rng.randrange(len(b))
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 3:
        # bincode varint markers: 0xfb u16, 0xfc u32, 0xfd u64, 0xfe u128 + large payloads.
        at = rng.randrange(len(b))
        b[at:at + 9] = bytes([0xFD]) + bytes([0xFF] * 7) + bytes([0x7F])
    else:
        at, n = rng.randrange(len(b)), rng.randint(1, 64)
        b[at:at] = b[at:at + n]
    return bytes(b)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def post(url: str, token: str, body: bytes) -> int:
    req = urllib.request.Request(url + "/v1/admin/model", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return -1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--binary", default="target/release/zonecast")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="zonecast-fuzz-")
    trips = os.path.join(work, "trips.csv")
    run = lambda *a: subprocess.run([args.binary, *a], check=True, capture_output=True)
    run("generate", "--out", trips, "--trips", "60000", "--days", "35", "--seed", "3")
    models = []
    for kind in ("rf", "ridge"):
        out = os.path.join(work, f"{kind}.bin")
        run("train", "--input", trips, "--model", kind, "--out", out, "--lags", "1-3,24,168")
        models.append(open(out, "rb").read())
    watched = os.path.join(work, "watched.bin")
    with open(watched, "wb") as f:
        f.write(models[1])
    token = "fuzz-token"
    server = subprocess.Popen(
        [args.binary, "run", "--input", trips, "--model", watched, "--http", "127.0.0.1:0",
         "--admin-token", token, "--quiet"],
        stderr=subprocess.PIPE, text=True)
    url = None
    for line in server.stderr:
        m = re.search(r"(http://127\.0\.0\.1:\d+)/$", line.strip())
        if m:
            url = m.group(1)
            break
    if url is None:
        print("the server did not start", file=sys.stderr)
        return 2
    # Keep draining the server's log, so it never blocks on a full pipe; keep any panic.
    panics: list[str] = []

    def drain() -> None:
        for line in server.stderr:
            if "panicked" in line:
                panics.append(line.strip())

    threading.Thread(target=drain, daemon=True).start()
    counts = {"posted": 0, "refused": 0, "accepted": 0, "watched_writes": 0}
    failures = []
    started = time.time()
    while time.time() - started < args.seconds:
        data = mutate(rng.choice(models), rng)
        if rng.random() < 0.5:
            status = post(url, token, data)
            counts["posted"] += 1
            key = {202: "accepted", 400: "refused"}.get(status, f"status {status}")
            counts.setdefault(key, 0)
            if status == -1:
                failures.append("a POST got no answer within 10 s")
            counts[key] += 1
        else:
            tmp = watched + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, watched)
            counts["watched_writes"] += 1
            time.sleep(0.6)  # the watcher polls every 500 ms
        if server.poll() is not None:
            failures.append(f"server exited with {server.returncode}")
            break
        if not healthy(url):
            failures.append("server stopped answering /healthz")
            break
    elapsed = time.time() - started
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        failures.append("server did not stop on SIGTERM")
    print(f"mutation fuzz of model loading: {elapsed:.0f} s, seed {args.seed}")
    for k, v in counts.items():
        print(f"  {k:15} {v}")
    failures.extend(panics)
    print("  crashes/hangs   " + (", ".join(failures) if failures else "none"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
