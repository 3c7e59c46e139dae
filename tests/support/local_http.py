"""The HTTP plumbing of the local helpers that stand between fleetform and the emulator (the
test proxy, the benchmarks' replay server): they must not be what is measured.

- Status line, headers and body go out in one write with TCP_NODELAY: written in two parts,
  each keep-alive answer waits ~40 ms for the client's delayed ACK.
- The listen backlog fits fleetform's concurrency: with Python's default of 5, connections
  opened at once are dropped and retried a second later.
- Listening on 127.0.0.1 only is the caller's part (it passes the address).
"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def _send(self, status, headers, data):
        """Status line, headers and body in one write (one segment where it fits)."""
        reason = self.responses.get(status, ("",))[0]
        head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers] + [f"Content-Length: {len(data)}"]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
