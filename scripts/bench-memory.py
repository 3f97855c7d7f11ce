#!/usr/bin/env python3
"""Peak memory while the writer is stalled and the write queue fills.

The release server runs on a fresh SQLite database whose write lock this script holds
(as a hung disk would), while CONNECTIONS clients each post one signed webhook and wait.
Every webhook waits in memory, in the queue or on its connection: this is the most the
server holds at once with the defaults, the figure a container's memory limit must
cover. Two scenarios: messages of the largest size (a 256-character id and 4,096
characters of text, four bytes each) and small ones (a short id, 100 characters).

Usage: scripts/bench-memory.py BINARY [CONNECTIONS]   (default 8192, the default
WRITE_QUEUE_CAPACITY). Uses the standard library only.
"""

import asyncio
import hashlib
import hmac
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

SECRET = b"bench-memory-secret"
STALL_SECONDS = 10


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory_mib(pid):
    """The process's resident memory now and at its peak, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return tuple(int(fields[name].split()[0]) // 1024 for name in ("VmRSS", "VmHWM"))


async def post(port, body, answers):
    signature = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    head = (
        "POST /webhook HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"X-Signature: {signature}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 120)
        answers[status_line.split()[1].decode() if status_line else "closed"] += 1
        writer.close()
    except OSError as error:
        answers[type(error).__name__] += 1


async def scenario(binary, connections, id_chars, text_chars):
    work = tempfile.mkdtemp(prefix="bench-memory-")
    database, port = f"{work}/app.db", free_port()
    env = dict(
        os.environ,
        WEBHOOK_SECRET=SECRET.decode(),
        DATABASE_URL=f"sqlite://{database}",
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="ERROR",
    )
    server = None
    try:
        server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
        for _ in range(400):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready")
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("the server did not become ready")
        baseline = memory_mib(server.pid)[0]
        lock = sqlite3.connect(database, isolation_level=None, timeout=10)
        lock.execute("BEGIN IMMEDIATE")
        answers = Counter()
        tasks = []
        for index in range(connections):
            message = {
                "message_id": f"{index:06d}" + "\U0001F600" * (id_chars - 6),
                "from": "+1234567890",
                "to": "+1987654321",
                "ts": "2025-01-15T10:00:00Z",
                "text": "\U0001F600" * text_chars,
            }
            body = json.dumps(message, ensure_ascii=False).encode()
            tasks.append(asyncio.create_task(post(port, body, answers)))
        await asyncio.sleep(STALL_SECONDS)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        depth = next(
            line.split()[1]
            for line in metrics.splitlines()
            if line.startswith("webhook_write_queue_depth ")
        )
        lock.execute("ROLLBACK")
        await asyncio.gather(*tasks)
        peak = memory_mib(server.pid)[1]
        unexpected = {k: v for k, v in answers.items() if k not in ("200", "408", "503")}
        if unexpected:
            sys.exit(f"not every client was answered: {dict(answers)}")
        print(
            f"{connections} webhooks of {len(body):,} bytes, writer stalled {STALL_SECONDS} s: "
            f"peak RSS {peak} MiB (idle {baseline} MiB), queue depth {depth} while stalled, "
            f"answers {dict(answers)}",
            flush=True,
        )
    finally:
        if server:
            server.terminate()
            server.wait()
        subprocess.run(["rm", "-rf", work], check=True)


def main():
    binary = sys.argv[1]
    connections = int(sys.argv[2]) if len(sys.argv) > 2 else 8192
    # One descriptor per client, and the server's own (it raises its limit itself).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < connections + 100:
        if hard != resource.RLIM_INFINITY and hard < connections + 100:
            sys.exit(f"{connections} clients need {connections + 100} open files; the limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (connections + 100, hard))
    asyncio.run(scenario(binary, connections, id_chars=256, text_chars=4096))
    asyncio.run(scenario(binary, connections, id_chars=8, text_chars=100))


if __name__ == "__main__":
    main()
