#!/usr/bin/env python3
"""A loopback proxy in front of an S3 server for tests/s3-read.bats and
tests/cache.bats: requests pass through byte for byte (the Host header too,
so SigV4 signatures stay valid), and each one is logged, one line per
request: METHOD PATH RANGE STATUS BODY-BYTES CLIENT-PORT (RANGE is '-' when
none). With --missing-403 a 404 answer becomes S3's 403 AccessDenied, as S3
answers for a missing key when the caller may not list the bucket.
Usage: s3-tap.py UPSTREAM_PORT PORT LOG [--missing-403]"""
import http.client
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

upstream, port, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
deny = "--missing-403" in sys.argv[4:]
lock = threading.Lock()
DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
          b'<Message>Access Denied</Message></Error>')


class Tap(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        status, headers = resp.status, resp.getheaders()
        conn.close()
        if deny and status == 404:
            status, data = 403, DENIED
            headers = [("Content-Type", "application/xml")]
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        with lock, open(log, "a") as f:
            f.write("%s %s %s %d %d %d\n" % (self.command, self.path, self.headers.get("Range", "-").replace(" ", ""),
                                              status, len(data), self.client_address[1]))

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = relay


ThreadingHTTPServer.daemon_threads = True
# several readers connect at once, each with several transfers: socketserver's
# listen queue of 5 would drop their connections' first SYNs
ThreadingHTTPServer.request_queue_size = 128
ThreadingHTTPServer(("127.0.0.1", port), Tap).serve_forever()
