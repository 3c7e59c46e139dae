#!/usr/bin/env python3
"""Record the local AWS emulator's answers once, then serve them from memory at a set latency.

Why: the emulator is one Python process whose own CPU grows with the fleet (a plan of 48
clusters x 24 groups spends 11 s in moto and 0.1 s in fleetform). A benchmark that goes through
it measures moto. Served from memory at a fixed latency, the same requests measure what is ours:
how many requests fleetform makes, how many of them wait on each other, and its own CPU.

  replay.py --port P --record FILE --target URL
      forward every request to URL (the emulator) and keep its answer; POST /__replay/save
      writes what was recorded to FILE (JSON lines).
  replay.py --port P --replay FILE [--replay FILE ...] --delay-ms N
      answer from the recordings, each after N ms (a region's round trip; 0 for fleetform's
      own cost). An S3 object written during the replay reads back as written (a lock holds
      this run's id, not the recorded one's). Requests with the same key are answered in the order they were recorded (the
      last answer repeats), so a poll replays as it went.

A request's key is what identifies it to AWS: the method, the service and region it was signed
for, the path and query, and the body, less what varies from run to run without changing the
answer (idempotency tokens; the body of an S3 PUT; the time in the name of an audit record; the
start of a spot price history, asked from the clock).

GET /__replay/stats answers JSON: requests, misses (requests not in the recordings: answered
500, and the benchmark fails on any), and chain: the longest chain of requests each sent after
the previous one was answered (the dependent round trips on the critical path, as executed).
POST /__replay/stats resets them. Listens on 127.0.0.1 only.
"""
import argparse
import base64
import heapq
import json
import re
import threading
import time
import urllib.parse
import http.client
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "support"))
from local_http import Handler as Base, Server  # noqa: E402  (shared with the test proxy)

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--record", default=None)
p.add_argument("--target", default=None)
p.add_argument("--replay", action="append", default=[])
p.add_argument("--delay-ms", type=float, default=0)
args = p.parse_args()

lock = threading.Lock()
recorded = []  # (key, status, headers, body) in the order answered
answers = {}  # key -> [(status, headers, body)]
served = {}  # key -> answers served so far
spans = []  # (start, end) of each request served
misses = []
objects = {}  # S3 path -> body written during this replay (the lock is read back by its id)
VOLATILE = {"ClientToken", "clientRequestToken", "ClientRequestToken"}


def key_of(method, path, headers, body):
    auth = headers.get("Authorization", "")
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
    service, region = (scope[3], scope[2]) if len(scope) >= 4 else ("-", "-")
    path = re.sub(r"/history/[^?]*", "/history/*", path)
    ctype = headers.get("Content-Type", "")
    if service == "s3" and method == "PUT":
        text = ""
    elif "x-www-form-urlencoded" in ctype:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        # Spot price history is asked from the clock's now, not from FLEETFORM_NOW.
        volatile = VOLATILE | ({"StartTime", "EndTime"} if ("Action", "DescribeSpotPriceHistory") in pairs else set())
        pairs = [(k, v) for k, v in pairs if k not in volatile]
        text = urllib.parse.urlencode(sorted(pairs))
    elif "json" in ctype and body:
        try:
            doc = json.loads(body)
            if isinstance(doc, dict):
                for v in VOLATILE:
                    doc.pop(v, None)
            text = json.dumps(doc, sort_keys=True)
        except ValueError:
            text = body.decode("utf-8", "replace")
    else:
        text = body.decode("utf-8", "replace")
    return f"{method} {service} {region} {path} {headers.get('X-Amz-Target', '')} {text}"


for f in args.replay:
    with open(f) as fh:
        for line in fh:
            r = json.loads(line)
            answers.setdefault(r["key"], []).append((r["status"], r["headers"], base64.b64decode(r["body"])))


class Handler(Base):
    def _control(self):
        global spans, misses
        with lock:
            if self.path == "/__replay/save" and args.record:
                with open(args.record, "w") as fh:
                    for k, s, h, b in recorded:
                        fh.write(json.dumps({"key": k, "status": s, "headers": h, "body": base64.b64encode(b).decode()}) + "\n")
                out = {"recorded": len(recorded)}
            else:
                links = chain_of(spans)
                out = {"requests": len(spans), "misses": len(misses), "missed": misses[:5], "chain": len(links), "chainOf": links}
                if self.command == "POST":
                    spans, misses = [], []
                    served.clear()
                    objects.clear()
        self._send(200, [("Content-Type", "application/json")], json.dumps(out).encode())

    def _handle(self):
        start = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__replay/"):
            return self._control()
        key = key_of(self.command, self.path, self.headers, body)
        if args.record:
            t = urllib.parse.urlparse(args.target)
            conn = http.client.HTTPConnection(t.hostname, t.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Host"] = f"{t.hostname}:{t.port}"
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            conn.close()
            hdrs = [(k, v) for k, v in r.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length", "date")]
            with lock:
                recorded.append((key, r.status, hdrs, data))
                spans.append((start, time.monotonic(), name_of(key)))
            return self._send(r.status, hdrs, data)
        with lock:
            found = answers.get(key)
            if found:
                i = served.get(key, 0)
                served[key] = i + 1
                status, hdrs, data = found[min(i, len(found) - 1)]
            else:
                misses.append(key[:300])
            # An S3 object written in this run reads back as written (the lock holds this run's
            # id, not the recorded run's).
            if " s3 " in key:
                obj = self.path.split("?", 1)[0]  # the SDK adds ?x-id=PutObject, GetObject, ...
                if self.command == "PUT":
                    objects[obj] = body
                elif self.command == "DELETE":
                    objects.pop(obj, None)
                elif self.command == "GET" and obj in objects and found and status == 200:
                    data = objects[obj]
                    # The recorded checksums are of the recorded body.
                    hdrs = [(k, v) for k, v in hdrs if not k.lower().startswith("x-amz-checksum") and k.lower() not in ("etag", "content-md5")]
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        if not found:
            status, hdrs, data = 500, [("Content-Type", "text/xml")], b"<ErrorResponse><Error><Code>InternalFailure</Code><Message>not in the recording</Message></Error></ErrorResponse>"
        with lock:
            spans.append((start, time.monotonic(), name_of(key)))
        self._send(status, hdrs, data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


def chain(spans):
    """The longest chain of requests each sent after the one before it was answered. In order
    of sending, a request extends the longest chain among those answered before it was sent."""
    return len(chain_of(spans))


def chain_of(spans):
    """That chain itself: the requests' names (service, region, action), first sent first."""
    ended, best, last = [], (0, None), (0, None)
    links = {}
    for i, (s, e, what) in enumerate(sorted(spans, key=lambda x: x[:2])):
        while ended and ended[0][0] <= s:
            _, _, n, j = heapq.heappop(ended)
            best = max(best, (n, j), key=lambda x: x[0])
        links[i] = (what, best[1])
        heapq.heappush(ended, (e, i, best[0] + 1, i))
        last = max(last, (best[0] + 1, i), key=lambda x: x[0])
    out, i = [], last[1]
    while i is not None:
        what, i = links[i]
        out.append(what)
    return out[::-1]


def name_of(key):
    """A request's service, region and action, from its key."""
    method, service, region, path, rest = (key.split(" ", 4) + [""] * 5)[:5]
    action = re.search(r"(?:^|&|\s)Action=([A-Za-z]+)", rest)
    target = rest.split(" ", 1)[0] if rest and not rest.startswith("{") else ""
    what = action.group(1) if action else (target.rsplit(".", 1)[-1] if target else f"{method} {path.split('?', 1)[0]}")
    return f"{service} {region} {what}"


Server(("127.0.0.1", args.port), Handler).serve_forever()
