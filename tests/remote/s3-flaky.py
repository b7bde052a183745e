#!/usr/bin/env python3
"""A proxy in front of moto's S3 server for tests/s3-write.bats that fails the
first try of chosen writes: a request whose method and path-with-query match
RULE's regular expression is answered ACTION once (then forwarded as usual):
503 (S3's SlowDown), 500 (InternalError) or "drop" (the connection closed
without an answer). Everything else is forwarded unchanged, headers and all,
so signatures still hold. Prints each request it fails on stdout.
Usage: s3-flaky.py PORT UPSTREAM_PORT ACTION:METHOD:REGEX ..."""
import http.client
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, upstream = int(sys.argv[1]), int(sys.argv[2])
rules = []
for arg in sys.argv[3:]:
    action, method, rx = arg.split(":", 2)
    rules.append([action, method, re.compile(rx), False])


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        for rule in rules:
            action, method, rx, used = rule
            if not used and method == self.command and rx.search(self.path):
                rule[3] = True
                print(f"{action} {self.command} {self.path}", flush=True)
                if action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                code = int(action)
                why = b"<Error><Code>SlowDown</Code></Error>" if code == 503 else \
                    b"<Error><Code>InternalError</Code></Error>"
                self.send_response(code)
                self.send_header("Content-Length", str(len(why)))
                self.end_headers()
                self.wfile.write(why)
                return
        c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            c.putheader(k, v)
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        c.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one


ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
