#!/usr/bin/env python3
"""A reverse proxy on loopback that injects faults, for tests/faults.bats.

Usage: faultproxy.py UPSTREAM LOG [--port N] [--port-file F] [--plan FILE] [RULE ...]

It listens on 127.0.0.1 (port N, or a free one), prints the port on its
first line of output (and writes it to F, if given), and forwards each
request's bytes as they came (so a SigV4 signature over the Host header,
which names the proxy, still verifies at a server that does not check the
Host, as moto's S3 server does for path-style requests) to UPSTREAM
(HOST:PORT); the answer goes back to the client as the server gave it,
unless a rule says otherwise. Connections from the client are kept alive;
each request goes upstream on a connection of its own.

A RULE (one per argument, or one per line of the plan FILE, where # starts a
comment) is comma-separated NAME=VALUE pairs:
  path=REGEX    requests whose path (with its query) matches (re.search)
  method=M      requests of that method (GET, PUT, ...)
  nth=N         counting the requests that match: from the Nth (default 1)
  times=K       for K of them (default 1; 0 for all from the Nth on)
  fault=F       what to do to them:
    drop        cut the body after bytes=M bytes (default: half), then close
                the connection: the answer's body, or of a request with a
                body (PUT, POST), the request's, which then goes nowhere
    stall       stop for seconds=S after bytes=M bytes of the body (as for
                drop), then go on
    close       close the connection once the request is read, before any
                answer
    500, 503, 403, 404 (any status)
                answer that status with S3's XML error body, code=CODE
                (default InternalError, ServiceUnavailable, AccessDenied,
                NoSuchKey; else Error) without asking the server
    slowdown    503 with code SlowDown
Of the rules whose window holds a request, the first one applies; every
rule counts every request that matches it, whether it applied or not.

LOG gets a line per request as it arrives, flushed at once:
  SEQ METHOD PATH FAULT
SEQ counting from 1, FAULT the rule's fault as written (fault=drop,bytes=10)
or "pass". Standard library only.
"""
import argparse
import http.client
import os
import re
import socket
import socketserver
import sys
import threading
import time

DEFAULT_CODES = {500: "InternalError", 503: "ServiceUnavailable", 403: "AccessDenied", 404: "NoSuchKey"}
REASONS = {500: "Internal Server Error", 503: "Service Unavailable", 403: "Forbidden", 404: "Not Found"}


class Rule:
    def __init__(self, text):
        self.text = text.strip()
        self.path = self.method = None
        self.nth, self.times, self.fault = 1, 1, None
        self.bytes = self.seconds = None
        self.code = None
        self.seen = 0
        for part in self.text.split(","):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep:
                raise ValueError("%s: %s: expected NAME=VALUE" % (self.text, part))
            if name == "path":
                self.path = re.compile(value)
            elif name == "method":
                self.method = value.upper()
            elif name in ("nth", "times", "bytes"):
                setattr(self, name, int(value))
            elif name == "seconds":
                self.seconds = float(value)
            elif name == "code":
                self.code = value
            elif name == "fault":
                self.fault = value.lower()
            else:
                raise ValueError("%s: unknown name %s" % (self.text, name))
        if self.fault not in ("drop", "stall", "close", "slowdown") and not (self.fault or "").isdigit():
            raise ValueError("%s: fault=drop, stall, close, slowdown or a status" % self.text)
        if self.fault == "slowdown":
            self.fault, self.code = "503", self.code or "SlowDown"

    def matches(self, method, path):
        return (self.path is None or self.path.search(path)) and (self.method is None or self.method == method)

    def fires(self):
        """Count one more matching request; whether it lies in the window."""
        self.seen += 1
        return self.seen >= self.nth and (self.times == 0 or self.seen < self.nth + self.times)


class State:
    def __init__(self, rules, log):
        self.rules = rules
        self.log = open(log, "a", buffering=1)
        self.lock = threading.Lock()
        self.seq = 0

    def decide(self, method, path):
        with self.lock:
            self.seq += 1
            chosen = None
            for rule in self.rules:
                if rule.matches(method, path) and rule.fires() and chosen is None:
                    chosen = rule
            self.log.write("%d %s %s %s\n" % (self.seq, method, path, chosen.text if chosen else "pass"))
            self.log.flush()
            return chosen


def read_head(f):
    """The request's head as bytes (through the blank line), or None at EOF."""
    lines = []
    while True:
        line = f.readline(65537)
        if not line:
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # stray blank lines between requests
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == name:
            return v.strip().decode("latin-1")
    return None


def read_chunked(f):
    """A chunked body's bytes, as sent."""
    out = []
    while True:
        line = f.readline(65537)
        out.append(line)
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:
                trailer = f.readline(65537)
                out.append(trailer)
                if trailer in (b"\r\n", b"\n", b""):
                    return b"".join(out)
        out.append(f.read(size + 2))


def error_body(status, code, path):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>injected by the test proxy'
            '</Message><Resource>%s</Resource><RequestId>0</RequestId></Error>' % (code, path)).encode()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        state = self.server.state
        while True:
            head = read_head(self.rfile)
            if head is None:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(request_line) < 3:
                return
            method, path = request_line[0], request_line[1]
            rule = state.decide(method, path)
            fault = rule.fault if rule else None
            if (header(head, b"expect") or "").lower() == "100-continue":
                # answered here; the server gets the request without it (it is not signed)
                head = b"\r\n".join(l for l in head.split(b"\r\n") if not l.lower().startswith(b"expect:"))
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
            length = header(head, b"content-length")
            has_body = length is not None and int(length) > 0
            if has_body and fault in ("drop", "stall"):
                n = int(length)
                cut = rule.bytes if rule.bytes is not None else n // 2
                first = self.rfile.read(min(cut, n))
                if fault == "drop":
                    return  # closes the connection with the request cut short
                time.sleep(rule.seconds or 0)
                body = first + self.rfile.read(n - len(first))
                fault = None
            elif length is not None:
                body = self.rfile.read(int(length))
            elif (header(head, b"transfer-encoding") or "").lower() == "chunked":
                body = read_chunked(self.rfile)
            else:
                body = b""
            if fault == "close":
                return
            if fault and fault.isdigit():
                status = int(fault)
                data = error_body(status, rule.code or DEFAULT_CODES.get(status, "Error"), path)
                self.wfile.write(("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n"
                                  % (status, REASONS.get(status, "Error"), len(data))).encode() +
                                 (b"" if method == "HEAD" else data))
                self.wfile.flush()
                if (header(head, b"connection") or "").lower() == "close":
                    return
                continue
            if not self.forward(method, head, body, rule if fault in ("drop", "stall") else None):
                return
            if (header(head, b"connection") or "").lower() == "close":
                return

    def forward(self, method, head, body, rule):
        """Send the request upstream and its answer back (cut or stalled as rule
        says); whether the client's connection stays open."""
        host, _, port = self.server.upstream.rpartition(":")
        up = socket.create_connection((host, int(port)), timeout=60)
        try:
            up.sendall(head + body)
            resp = http.client.HTTPResponse(up, method=method)
            resp.begin()
            data = resp.read()
        finally:
            up.close()
        lines = ["HTTP/1.1 %d %s" % (resp.status, resp.reason)]
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                lines.append("%s: %s" % (k, v))
        # the length of a HEAD's answer is the object's, as the server said
        lines.append("Content-Length: %s" % (resp.getheader("Content-Length", "0") if method == "HEAD" else len(data)))
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if rule is None or method == "HEAD":
            self.wfile.write(data)
            self.wfile.flush()
            return True
        cut = rule.bytes if rule.bytes is not None else len(data) // 2
        self.wfile.write(data[:cut])
        self.wfile.flush()
        if rule.fault == "drop":
            return False
        time.sleep(rule.seconds or 0)
        try:
            self.wfile.write(data[cut:])
            self.wfile.flush()
        except OSError:
            return False  # the client gave up on the stalled answer
        return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up on a fault is no error of the proxy's


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("upstream")
    ap.add_argument("log")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--plan")
    ap.add_argument("rules", nargs="*")
    a = ap.parse_intermixed_args()
    texts = list(a.rules)
    if a.plan:
        for line in open(a.plan):
            line = line.split("#", 1)[0].strip()
            if line:
                texts.append(line)
    try:
        rules = [Rule(t) for t in texts]
    except (ValueError, re.error) as e:
        sys.exit("faultproxy.py: %s" % e)
    server = Server(("127.0.0.1", a.port), Handler)
    server.state = State(rules, a.log)
    server.upstream = a.upstream
    port = server.server_address[1]
    print(port, flush=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)

        os.rename(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
