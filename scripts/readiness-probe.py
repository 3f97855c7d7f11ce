#!/usr/bin/env python3
"""/health/ready latency while READERS clients keep asking new 2-character `q` searches.

Usage: scripts/readiness-probe.py PORT SECONDS READERS (run by scripts/bench-readiness.sh).
"""

import random
import string
import sys
import threading
import time
import urllib.parse
import urllib.request


def percentile(values, fraction):
    values = sorted(values)
    return values[min(len(values) - 1, int(fraction * len(values)))]


def main():
    port, seconds, readers = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    base = f"http://127.0.0.1:{port}"
    stop = time.monotonic() + seconds
    # Every 2-character q, each asked once (no total is remembered for it), in an order
    # the readers share.
    alphabet = string.ascii_lowercase + string.digits
    unasked = [a + b for a in alphabet for b in alphabet]
    random.Random(1).shuffle(unasked)
    unasked_lock, searches, errors = threading.Lock(), [], []

    def search():
        while time.monotonic() < stop:
            with unasked_lock:
                if not unasked:
                    return
                q = unasked.pop()
            started = time.perf_counter()
            url = f"{base}/messages?limit=1&q={urllib.parse.quote(q)}"
            try:
                urllib.request.urlopen(url, timeout=60).read()
            except OSError as error:
                errors.append(error)
                continue
            searches.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=search) for _ in range(readers)]
    for thread in threads:
        thread.start()
    probes, failed = [], 0
    time.sleep(0.5)
    while time.monotonic() < stop:
        started = time.perf_counter()
        try:
            urllib.request.urlopen(f"{base}/health/ready", timeout=3).read()
        except OSError:
            failed += 1
        probes.append((time.perf_counter() - started) * 1000)
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    if errors or not searches:
        sys.exit(f"searches failed: {errors[:3]}")
    print(
        f"  {len(searches)} new 2-character searches, p50 {percentile(searches, 0.5):.0f} ms\n"
        f"  /health/ready: {len(probes)} probes, p50 {percentile(probes, 0.5):.1f} ms, "
        f"p99 {percentile(probes, 0.99):.1f} ms, max {max(probes):.1f} ms, "
        f"failed (3 s, as the probes of the manifests) {failed}"
    )


if __name__ == "__main__":
    main()
