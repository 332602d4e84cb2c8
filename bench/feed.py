"""Change-feed drain rate and the cost of Idempotency-Key and If-Match on writes.

Started by bench/feed.sh, which runs the service and passes everything in the environment:

  FEED_BASE       http://127.0.0.1:<port> of the running service
  FEED_TOKEN      bearer token (scopes read, write, admin)
  FEED_DB_URL     the service's database, for psql
  FEED_PSQL       path of psql
  FEED_PID        the service's pid (for VmHWM), optional
  FEED_OUT        where to write the Markdown report
  FEED_META       extra "- ..." lines for the report's header (newline-separated), optional
  CHANGES         changes to generate and drain (100000)
  WRITES          requests per write scenario (2000)
  CONCURRENCY     threads, one keep-alive connection each (8)
  WARMUP_WRITES   unmeasured POST /v1/areas before the write scenarios (200; 0 disables)
  PHASE_TIMEOUT   seconds any one phase may take (600)

Python standard library only. All traffic goes to FEED_BASE, which must be 127.0.0.1.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

BASE = os.environ["FEED_BASE"]
TOKEN = os.environ["FEED_TOKEN"]
DB_URL = os.environ["FEED_DB_URL"]
PSQL = os.environ["FEED_PSQL"]
PID = os.environ.get("FEED_PID", "")
OUT = os.environ["FEED_OUT"]
META = [line for line in os.environ.get("FEED_META", "").splitlines() if line.strip()]
CHANGES = int(os.environ.get("CHANGES", "100000"))
WRITES = int(os.environ.get("WRITES", "2000"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "8"))
WARMUP_WRITES = int(os.environ.get("WARMUP_WRITES", "200"))
PHASE_TIMEOUT = float(os.environ.get("PHASE_TIMEOUT", "600"))
REQUEST_TIMEOUT = 30.0
AREA_ID = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003"

_url = urllib.parse.urlsplit(BASE)
HOST, PORT = _url.hostname, _url.port
if HOST != "127.0.0.1":
    sys.exit(f"feed.py: FEED_BASE must be on 127.0.0.1 (got {BASE})")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
RUN = uuid.uuid4().hex[:8]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Abort(Exception):
    pass


def connect():
    return http.client.HTTPConnection(HOST, PORT, timeout=REQUEST_TIMEOUT)


def call(conn, method, path, headers, body=None):
    """One request on a keep-alive connection: (status, headers, body bytes, seconds)."""
    data = None if body is None else json.dumps(body).encode()
    start = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    return resp.status, resp, raw, time.perf_counter() - start


def pct(sorted_values, q):
    if not sorted_values:
        return float("nan")
    # Nearest rank.
    k = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[k]


def vmhwm_mib():
    try:
        with open(f"/proc/{PID}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


# ------------------------------------------------------------------------------- change feed


def drain(after, limit, what):
    """Pages GET /v1/changes from `after` until an empty page. Returns a result dict."""
    conn = connect()
    items, pages, latencies, seen = 0, 0, [], set()
    duplicates, kinds = 0, {}
    cursor = after
    started = time.perf_counter()
    deadline = started + PHASE_TIMEOUT
    while True:
        q = {"limit": str(limit)}
        if cursor:
            q["after"] = cursor
        path = "/v1/changes?" + urllib.parse.urlencode(q)
        status, _, raw, took = call(conn, "GET", path, AUTH)
        if status != 200:
            raise Abort(f"{what}: GET {path} answered {status}: {raw[:500].decode('utf-8', 'replace')}")
        page = json.loads(raw)
        latencies.append(took)
        pages += 1
        batch = page["items"]
        for it in batch:
            key = it["cursor"]
            if key in seen:
                duplicates += 1
            seen.add(key)
            kinds[it["type"]] = kinds.get(it["type"], 0) + 1
        items += len(batch)
        nxt = page["nextCursor"]
        if not batch:
            if nxt != (cursor or nxt):
                log(f"warning: {what}: an empty page moved the cursor ({cursor} -> {nxt})")
            cursor = nxt
            break
        cursor = nxt
        if time.perf_counter() > deadline:
            raise Abort(f"{what}: not drained within {PHASE_TIMEOUT:.0f}s ({items} changes so far)")
    elapsed = time.perf_counter() - started
    conn.close()
    latencies.sort()
    return {
        "items": items, "pages": pages, "seconds": elapsed, "cursor": cursor,
        "p50": pct(latencies, 0.50) * 1000, "p99": pct(latencies, 0.99) * 1000,
        "max": latencies[-1] * 1000 if latencies else float("nan"),
        "duplicates": duplicates, "kinds": kinds,
    }


def generate_changes(n):
    sql = (f"INSERT INTO networks (id, name, kind) SELECT gen_random_uuid(), 'Bench ' || g, 'staff' "
           f"FROM generate_series(1, {n}) g")
    started = time.perf_counter()
    res = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB_URL, "-c", sql],
                         capture_output=True, text=True, timeout=PHASE_TIMEOUT)
    if res.returncode != 0:
        raise Abort(f"psql failed ({res.returncode}): {res.stderr.strip()[:500]}")
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------ writes


class Scenario:
    """WRITES requests from CONCURRENCY threads, each on its own keep-alive connection.

    prepare(conn, t) -> state runs before the clock starts; request(i, state) -> (method, path,
    headers, body); after(state, status, resp) sees every answer (to carry ETags along).
    """

    def __init__(self, name, request, prepare=None, after=None, expect=None, n=None):
        self.name, self.request, self.prepare, self.after = name, request, prepare, after
        self.expect = expect  # set of accepted statuses; default: any 2xx
        self.n = WRITES if n is None else n

    def ok(self, status):
        return status in self.expect if self.expect else 200 <= status < 300

    def run(self, states=None):
        lock = threading.Lock()
        latencies, statuses, failures, exceptions = [], {}, [], []
        reconnects = [0]
        states = states if states is not None else [None] * CONCURRENCY
        barrier = threading.Barrier(CONCURRENCY + 1)
        # Moved to start + PHASE_TIMEOUT once every thread is ready.
        deadline = [time.perf_counter() + 2 * PHASE_TIMEOUT]
        conns = [connect() for _ in range(CONCURRENCY)]

        def worker(t):
            conn = conns[t]
            try:
                if states[t] is None and self.prepare:
                    states[t] = self.prepare(conn, t)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    exceptions.append(f"prepare: {e!r}")
            barrier.wait()
            if states[t] is None and self.prepare:
                return
            mine, errs, stats, reopened, first = [], [], {}, 0, True
            for i in range(t, self.n, CONCURRENCY):
                if time.perf_counter() > deadline[0]:
                    errs.append(("timeout", "", f"phase exceeded {PHASE_TIMEOUT:.0f}s"))
                    break
                method, path, headers, body = self.request(i, states[t])
                if conn.sock is None and not first:
                    reopened += 1
                first = False
                try:
                    status, resp, raw, took = call(conn, method, path, headers, body)
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    errs.append(("exception", f"{method} {path}", repr(e)))
                    stats["exception"] = stats.get("exception", 0) + 1
                    continue
                mine.append(took)
                stats[status] = stats.get(status, 0) + 1
                if not self.ok(status):
                    errs.append((status, f"{method} {path} {json.dumps(headers_shown(headers))} {json.dumps(body)}",
                                 raw[:400].decode("utf-8", "replace")))
                if self.after:
                    self.after(states[t], status, resp, raw)
            with lock:
                latencies.extend(mine)
                failures.extend(errs)
                reconnects[0] += reopened
                for k, v in stats.items():
                    statuses[k] = statuses.get(k, 0) + v

        threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(CONCURRENCY)]
        for th in threads:
            th.start()
        # Connections are opened lazily; those opened by prepare are already warm.
        barrier.wait(timeout=PHASE_TIMEOUT)
        started = time.perf_counter()
        deadline[0] = started + PHASE_TIMEOUT
        for th in threads:
            th.join(timeout=max(1.0, deadline[0] + REQUEST_TIMEOUT + 5 - time.perf_counter()))
        elapsed = time.perf_counter() - started
        if any(th.is_alive() for th in threads):
            exceptions.append("a thread did not finish in time")
        for c in conns:
            c.close()
        if exceptions:
            raise Abort(f"{self.name}: {'; '.join(exceptions[:3])}")
        latencies.sort()
        done = len(latencies)
        return {
            "name": self.name, "requests": done, "seconds": elapsed,
            "rps": done / elapsed if elapsed > 0 else float("nan"),
            "p50": pct(latencies, 0.50) * 1000, "p99": pct(latencies, 0.99) * 1000,
            "errors": len(failures), "example": failures[0] if failures else None,
            "statuses": statuses, "reconnects": reconnects[0],
        }, states


def headers_shown(headers):
    return {k: v for k, v in headers.items() if k.lower() != "authorization"}


def area_body():
    return {"name": f"Bench area {RUN} {uuid.uuid4().hex}"}


def plain_post(i, state):
    return "POST", "/v1/areas", JSON_HEADERS, area_body()


def keyed_post(i, state):
    return "POST", "/v1/areas", {**JSON_HEADERS, "Idempotency-Key": str(uuid.uuid4())}, area_body()


def replay_check(state, status, resp, raw):
    if resp.getheader("Idempotent-Replayed"):
        log(f"warning: a fresh Idempotency-Key was answered as a replay ({status})")


def create_assignment(conn, t):
    body = {"title": "Bench", "municipalityIds": ["2281"], "areaId": AREA_ID,
            "fundingType": "internal", "budgetSek": 0}
    status, resp, raw, _ = call(conn, "POST", "/v1/assignments", JSON_HEADERS, body)
    if status != 201 and status != 200:
        raise RuntimeError(f"POST /v1/assignments answered {status}: {raw[:400].decode('utf-8', 'replace')}")
    etag = resp.getheader("ETag")
    if not etag:
        raise RuntimeError("POST /v1/assignments answered without an ETag")
    return {"id": json.loads(raw)["id"], "etag": etag}


def patch_with(tag_of, offset):
    def request(i, state):
        # budgetSek differs from the stored value on every request, so each PATCH is a real
        # update (a merge patch that changes nothing keeps the version and writes nothing).
        return ("PATCH", f"/v1/assignments/{state['id']}",
                {**JSON_HEADERS, "If-Match": tag_of(state)}, {"budgetSek": offset + i + 1})
    return request


def carry_etag(state, status, resp, raw):
    if status == 200 and resp.getheader("ETag"):
        state["etag"] = resp.getheader("ETag")
    elif status == 412 and resp.getheader("ETag"):
        # Resynchronise so that one stale tag does not fail every later request.
        state["etag"] = resp.getheader("ETag")


# ------------------------------------------------------------------------------------ report


def fmt(v, digits=0):
    if v is None or v != v:
        return "n/a"
    return f"{v:,.{digits}f}"


def main():
    rows, notes, warnings = [], [], []

    # 1. The feed's head, then CHANGES changes in one SQL statement, then two drains.
    log("change feed: reading to the head")
    head = drain(None, 1000, "initial sync")
    log(f"change feed: head after {head['items']} existing changes ({head['seconds']:.2f}s)")
    log(f"change feed: inserting {CHANGES} networks with psql")
    insert_secs = generate_changes(CHANGES)
    log(f"change feed: inserted in {insert_secs:.2f}s")
    for limit in (1000, 100):
        log(f"change feed: draining from the head with limit={limit}")
        r = drain(head["cursor"], limit, f"drain limit={limit}")
        rate = r["items"] / r["seconds"] if r["seconds"] > 0 else float("nan")
        log(f"change feed: {r['items']} changes in {r['seconds']:.2f}s ({rate:,.0f}/s, {r['pages']} pages)")
        rows.append([f"GET /v1/changes drain, limit={limit}", fmt(r["items"]), f"{r['seconds']:.2f}",
                     f"{fmt(rate)} changes/s", fmt(r["p50"], 1), fmt(r["p99"], 1), "0"])
        notes.append(f"drain limit={limit}: {r['pages']} pages; slowest page {r['max']:.1f} ms; "
                     f"types {json.dumps(r['kinds'], sort_keys=True)}")
        if r["items"] != CHANGES:
            warnings.append(f"drain limit={limit}: expected exactly {CHANGES} changes, got {r['items']}")
        if r["duplicates"]:
            warnings.append(f"drain limit={limit}: {r['duplicates']} changes were delivered twice")
    rss_feed = vmhwm_mib()

    # 2. Writes.
    if WARMUP_WRITES > 0:
        log(f"writes: {WARMUP_WRITES} unmeasured POST /v1/areas (warm-up)")
        warm, _ = Scenario("warm-up", plain_post, n=WARMUP_WRITES).run()
        if warm["errors"]:
            warnings.append(f"warm-up: {warm['errors']} failed requests, e.g. {warm['example']}")
    results = []
    log(f"writes: POST /v1/areas x {WRITES} ({CONCURRENCY} threads)")
    a, _ = Scenario("POST /v1/areas", plain_post).run()
    results.append(a)
    log(f"writes: POST /v1/areas + Idempotency-Key x {WRITES}")
    b, _ = Scenario("POST /v1/areas + Idempotency-Key", keyed_post, after=replay_check).run()
    results.append(b)
    log(f"writes: PATCH /v1/assignments/{{id}} + If-Match: \"<version>\" x {WRITES}")
    d, states = Scenario('PATCH /v1/assignments/{id} + If-Match: "<version>"', patch_with(lambda s: s["etag"], 0),
                         prepare=create_assignment, after=carry_etag, expect={200}).run()
    results.append(d)
    log(f"writes: PATCH /v1/assignments/{{id}} + If-Match: * x {WRITES}")
    e, _ = Scenario("PATCH /v1/assignments/{id} + If-Match: *", patch_with(lambda s: "*", WRITES),
                    prepare=create_assignment, after=carry_etag, expect={200}).run(states)
    results.append(e)
    for r in results:
        rows.append([r["name"], fmt(r["requests"]), f"{r['seconds']:.2f}", f"{fmt(r['rps'])} req/s",
                     fmt(r["p50"], 1), fmt(r["p99"], 1), fmt(r["errors"])])
        if r["errors"]:
            st, req, body = r["example"]
            warnings.append(f"{r['name']}: {r['errors']} failed requests; statuses "
                            f"{json.dumps({str(k): v for k, v in r['statuses'].items()}, sort_keys=True)}; "
                            f"e.g. {st} for {req}: {body}")
        if r["reconnects"]:
            notes.append(f"{r['name']}: {r['reconnects']} reconnections (keep-alive connections closed)")

    def overhead(fast, slow):
        if not (fast["rps"] > 0 and slow["rps"] > 0):
            return "n/a"
        return f"{(fast['rps'] / slow['rps'] - 1) * 100:+.1f} %"

    rss_end = vmhwm_mib()
    rows.append(["Idempotency-Key overhead (time per POST, b vs a)", "", "", overhead(a, b),
                 f"{b['p50'] - a['p50']:+.1f}", f"{b['p99'] - a['p99']:+.1f}", ""])
    rows.append(['If-Match version check (time per PATCH, "<version>" vs *)', "", "", overhead(e, d),
                 f"{d['p50'] - e['p50']:+.1f}", f"{d['p99'] - e['p99']:+.1f}", ""])

    header = ["Scenario", "Count", "Seconds", "Rate", "p50 ms", "p99 ms", "Errors"]
    lines = ["# Samverkan API: change feed and write overhead", ""]
    lines += META
    lines += [f"- Changes generated: {CHANGES:,} networks in one INSERT via psql ({insert_secs:.2f} s, "
              f"one feed entry each through the trigger); the feed held {head['items']:,} changes before",
              f"- Writes: {WRITES:,} requests per scenario from {CONCURRENCY} threads, one keep-alive "
              f"connection each (after {WARMUP_WRITES} unmeasured POSTs)",
              f"- Service peak RSS (VmHWM): {fmt(rss_feed, 1)} MiB after the drains, "
              f"{fmt(rss_end, 1)} MiB at the end",
              "",
              "| " + " | ".join(header) + " |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["",
              "Drain rows: Count is the changes received from the recorded head to an empty page; "
              "p50/p99 are per page. Write rows: p50/p99 per request; Errors counts answers other "
              "than 2xx (200 for PATCH) and connection failures. Overhead rows: how much longer "
              "each request took on average (requests/s of the cheaper variant over the dearer, "
              "minus 1), and the differences of p50 and p99 in ms.", ""]
    lines += [f"- {n}" for n in notes]
    if warnings:
        lines += ["", "**Warnings**", ""] + [f"- {w}" for w in warnings]
    text = "\n".join(lines) + "\n"
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(text, end="")
    for w in warnings:
        log(f"warning: {w}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Abort as e:
        log(f"error: {e}")
        sys.exit(1)
    except subprocess.TimeoutExpired as e:
        log(f"error: psql did not finish within {e.timeout:.0f}s")
        sys.exit(1)
