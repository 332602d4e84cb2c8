#!/usr/bin/env python3
"""Holds N idle long polls of the change feed open against the service until killed.

Usage: longpolls.py BASE_URL TOKEN N [READY_FILE]

Finds the feed's head first (so the polls have nothing to return and wait), then opens N
keep-alive connections, each looping `GET /v1/changes?after=<head>&wait=25`. Writes the number of
connections that are open and waiting to READY_FILE once all are sent, and counts answers that
are not 200 (printed to stderr every 10 s). Python 3 standard library only.
"""
import asyncio
import json
import sys
import urllib.parse
import urllib.request


def head(base, token):
    cursor = None
    while True:
        url = base + "/v1/changes?limit=1000" + (f"&after={cursor}" if cursor else "")
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as res:
            page = json.load(res)
        cursor = page["nextCursor"]
        if not page["items"]:
            return cursor


async def poll(host, port, path, token, stats):
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    stats["open"] += 1
    try:
        while True:
            writer.write(request)
            await writer.drain()
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            if b" 200 " not in status:
                stats["errors"] += 1
                await asyncio.sleep(1)
            stats["answers"] += 1
    finally:
        stats["open"] -= 1


async def main():
    base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ready_file = sys.argv[4] if len(sys.argv) > 4 else None
    cursor = head(base, token)
    url = urllib.parse.urlsplit(base)
    path = f"/v1/changes?after={cursor}&wait=25"
    stats = {"open": 0, "errors": 0, "answers": 0}
    tasks = [
        asyncio.create_task(poll(url.hostname, url.port, path, token, stats))
        for _ in range(n)
    ]
    while stats["open"] < n:
        await asyncio.sleep(0.1)
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
    await asyncio.sleep(1)
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(str(stats["open"]))
    while True:
        await asyncio.sleep(10)
        print(
            f"longpolls: {stats['open']} open, {stats['answers']} answers, {stats['errors']} not 200",
            file=sys.stderr,
        )


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
