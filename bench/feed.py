"""Change-feed drain rate and the cost of Idempotency-Key and If-Match on writes.

Usage: feed.py URL TOKEN DATABASE_URL PSQL   (started by bench/feed.sh)
"""
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

URL, TOKEN, DB_URL, PSQL = sys.argv[1:5]
CHANGES = 100_000
WRITES = 2000
THREADS = 8
host = urllib.parse.urlparse(URL)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def conn():
    return http.client.HTTPConnection(host.hostname, host.port, timeout=60)


def get(c, path):
    c.request("GET", path, headers=AUTH)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"GET {path}: {r.status} {body[:300]!r}")
    return json.loads(body)


def drain(after, limit):
    c = conn()
    n, started = 0, time.perf_counter()
    while True:
        q = f"/v1/changes?limit={limit}" + (f"&after={after}" if after else "")
        page = get(c, q)
        n += len(page["items"])
        after = page["nextCursor"]
        if not page["items"]:
            return n, time.perf_counter() - started, after


def writes(label, make):
    """Runs WRITES requests from THREADS threads; make(i, state) -> (method, path, headers, body)."""
    latencies, errors, lock = [], [], threading.Lock()

    def worker(t):
        c, state = conn(), {}
        for i in range(t, WRITES, THREADS):
            method, path, headers, body = make(i, state, c)
            start = time.perf_counter()
            c.request(method, path, body=json.dumps(body), headers={**AUTH, "Content-Type": "application/json", **headers})
            r = c.getresponse()
            data = r.read()
            took = time.perf_counter() - start
            state["etag"] = r.getheader("ETag")
            with lock:
                latencies.append(took)
                if r.status >= 300:
                    errors.append((r.status, data[:200]))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return {"label": label, "rps": WRITES / elapsed, "p50": p(0.5), "p99": p(0.99), "errors": len(errors), "example": errors[:1]}


head = drain(None, 1000)[2]
subprocess.run([PSQL, "-q", DB_URL, "-c",
                f"INSERT INTO networks (id, name, kind) SELECT gen_random_uuid(), 'Bench ' || g, 'staff' FROM generate_series(1, {CHANGES}) g"],
               check=True)
rows = []
for limit in (1000, 100):
    n, secs, _ = drain(head, limit)
    rows.append(f"| drain {n} changes, limit={limit} | {secs:.2f} s | {n / secs:,.0f} changes/s |")
    if n != CHANGES:
        rows.append(f"| WARNING: expected {CHANGES} changes, got {n} | | |")

plain = writes("POST /v1/areas", lambda i, s, c: ("POST", "/v1/areas", {}, {"name": f"Område {uuid.uuid4()}"}))
keyed = writes("POST /v1/areas + Idempotency-Key", lambda i, s, c: ("POST", "/v1/areas", {"Idempotency-Key": str(uuid.uuid4())}, {"name": f"Område {uuid.uuid4()}"}))


def patch(match):
    def make(i, state, c):
        if "id" not in state:
            c.request("POST", "/v1/assignments", body=json.dumps({"title": "Bench", "municipalityIds": ["2281"],
                      "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003", "fundingType": "internal", "budgetSek": 0}),
                      headers={**AUTH, "Content-Type": "application/json"})
            r = c.getresponse()
            state["id"] = json.loads(r.read())["id"]
            state["etag"] = r.getheader("ETag")
        tag = state["etag"] if match == "version" else "*"
        return ("PATCH", f"/v1/assignments/{state['id']}", {"If-Match": tag}, {"budgetSek": i})
    return make


versioned = writes("PATCH + If-Match: \"version\"", patch("version"))
anything = writes("PATCH + If-Match: *", patch("any"))
print("| change feed | time | rate |")
print("|---|---|---|")
print("\n".join(rows))
print()
print(f"| writes ({WRITES}, {THREADS} threads) | requests/s | p50 ms | p99 ms | errors |")
print("|---|---|---|---|---|")
for r in (plain, keyed, versioned, anything):
    print(f"| {r['label']} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} {r['example'] or ''} |")
print()
print(f"Idempotency-Key overhead: {(plain['rps'] / keyed['rps'] - 1):.0%} more time per POST; "
      f"If-Match version check vs *: {(anything['rps'] / versioned['rps'] - 1):+.0%}.")
