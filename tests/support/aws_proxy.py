#!/usr/bin/env python3
"""A small HTTP proxy in front of the local AWS emulator, for tests and benchmarks.

It listens on 127.0.0.1 only, forwards every request to --target (the emulator), and can:
  --delay-ms N         add N ms before forwarding each request (a real region's round trip);
  --throttle N         answer the first N requests that match --match with a throttling error
                       (EC2: 503 RequestLimitExceeded; others: 400 Throttling), then pass;
  --fail5xx N          answer the first N matching requests with HTTP 500 InternalFailure;
  --match TEXT         which requests faults apply to (a substring of the query or body,
                       e.g. Action=UpdateAutoScalingGroup); default: all.
  --deny               answer every request matching --match with 403 AccessDenied (an IAM policy
                       that lacks the permission);
  --swallow TEXT       answer requests containing TEXT with an empty success, without
                       forwarding them (e.g. a scale-up that AWS accepts but cannot fulfil);
  --activity-failure MSG
                       answer DescribeScalingActivities with one Failed activity started now,
                       with MSG as its status message (the emulator never reports one);
  --drop-reply TEXT    forward the first --drop-count requests whose "METHOD PATH" contains TEXT,
                       then close the connection without answering (a reply lost on the network:
                       the request took effect, the client never heard);
  --drop-count N       how many replies --drop-reply loses (default 1);
  --log FILE           append "METHOD PATH SERVICE REGION" per request (service and region from
                       the request's signature), to see which region a request was signed for.
GET /__proxy/count answers the number of requests forwarded or faulted so far;
POST /__proxy/reset sets it to zero.
"""
import argparse
import http.client
import threading
import time
import urllib.parse

from local_http import Handler as Base, Server  # (this file's folder is on the path)

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--target", required=True)
p.add_argument("--delay-ms", type=int, default=0)
p.add_argument("--throttle", type=int, default=0)
p.add_argument("--fail5xx", type=int, default=0)
p.add_argument("--match", default="")
p.add_argument("--swallow", default=None)
p.add_argument("--deny", action="store_true")
p.add_argument("--activity-failure", default=None)
p.add_argument("--drop-reply", default=None)
p.add_argument("--drop-count", type=int, default=1)
p.add_argument("--log", default=None)
args = p.parse_args()
target = urllib.parse.urlparse(args.target)
lock = threading.Lock()
state = {"count": 0, "throttle": args.throttle, "fail": args.fail5xx, "drop": args.drop_count}


class Handler(Base):
    def _reply(self, status, body, ctype="text/xml"):
        self._send(status, [("Content-Type", ctype)], body.encode())

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__proxy/"):
            with lock:
                if self.command == "POST":
                    state["count"] = 0
                return self._reply(200, str(state["count"]), "text/plain")
        matches = args.match in (self.path + body.decode("utf-8", "replace"))
        auth = self.headers.get("Authorization", "")
        if args.log:
            scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
            service, region = (scope[3], scope[2]) if len(scope) >= 4 else ("-", "-")
            with lock, open(args.log, "a") as f:
                f.write(f"{self.command} {self.path} {service} {region}\n")
        drop = False
        if args.drop_reply and args.drop_reply in f"{self.command} {self.path}":
            with lock:
                if state["drop"] > 0:
                    state["drop"] -= 1
                    drop = True
        fault = None
        with lock:
            state["count"] += 1
            if matches and state["throttle"] > 0:
                state["throttle"] -= 1
                fault = "throttle"
            elif matches and state["fail"] > 0:
                state["fail"] -= 1
                fault = "fail"
        if args.deny and matches:
            action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", ["the operation"])[0]
            if "/ec2/aws4_request" in auth:
                return self._reply(403, f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation ({action}).</Message></Error></Errors><RequestID>proxy</RequestID></Response>")
            return self._reply(403, f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/ci is not authorized to perform: autoscaling:{action}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>")
        if fault == "throttle":
            if "/ec2/aws4_request" in auth:
                return self._reply(503, "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>proxy</RequestID></Response>")
            return self._reply(400, "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>")
        if fault == "fail":
            if "/ec2/aws4_request" in auth:
                return self._reply(500, "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message></Error></Errors><RequestID>proxy</RequestID></Response>")
            return self._reply(500, "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>proxy says 500</Message></Error><RequestId>proxy</RequestId></ErrorResponse>")
        text = self.path + body.decode("utf-8", "replace")
        if args.swallow and args.swallow in text:
            action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", ["Unknown"])[0]
            return self._reply(200, f"<{action}Response><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></{action}Response>")
        if args.activity_failure and "Action=DescribeScalingActivities" in text:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            msg = args.activity_failure.replace("&", "&amp;").replace("<", "&lt;")
            return self._reply(200, (
                '<DescribeScalingActivitiesResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
                "<DescribeScalingActivitiesResult><Activities><member>"
                "<ActivityId>proxy-1</ActivityId><AutoScalingGroupName>group</AutoScalingGroupName>"
                f"<Description>Launching a new EC2 instance.  Status Reason: {msg}</Description>"
                "<Cause>An instance was started in response to a difference between desired and actual capacity</Cause>"
                f"<StartTime>{now}</StartTime><EndTime>{now}</EndTime><StatusCode>Failed</StatusCode>"
                f"<StatusMessage>{msg}</StatusMessage><Progress>100</Progress>"
                "</member></Activities></DescribeScalingActivitiesResult>"
                "<ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></DescribeScalingActivitiesResponse>"
            ))
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        headers["Host"] = f"{target.hostname}:{target.port}"
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if drop:
            # The request took effect upstream; the client never hears the answer.
            conn.close()
            self.close_connection = True
            return
        headers = [(k, v) for k, v in r.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
        self._send(r.status, headers, data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


Server(("127.0.0.1", args.port), Handler).serve_forever()
