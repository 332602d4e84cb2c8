#!/usr/bin/env python3
"""bench/webhook_receiver.py OUT: a fast webhook receiver for bench/webhooks.sh. Listens on
127.0.0.1 (a free port, printed first as `port N`), answers every POST 204 at once, and appends
a line per delivery to OUT: the arrival time (Unix seconds), the `webhook-id` and the payload's
`timestamp` (when the change was made). It does not verify signatures (the tests do): it measures
the sender, not itself."""
import asyncio
import json
import sys
import time

OUT = open(sys.argv[1], "a", buffering=1)


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            arrived = time.time()
            try:
                stamp = json.loads(body).get("timestamp", "")
            except ValueError:
                stamp = ""
            OUT.write(f"{arrived:.6f} {headers.get('webhook-id', '')} {stamp}\n")
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
