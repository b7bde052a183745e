#!/usr/bin/env python3
"""A web server that lies: it serves DIR's index.json whole, but of every other
file it declares the full Content-Length, sends half and hangs up; under
/stall/ it sends the half and then nothing for a minute.
Usage: short-body.py DIR PORTFILE (the port it listens on, 127.0.0.1 only)."""
import http.server
import os
import sys
import time

root, portfile = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        stall = self.path.startswith("/stall/")
        path = os.path.join(root, self.path[len("/stall/") if stall else 1:])
        if not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data if path.endswith("index.json") else data[: len(data) // 2])
        self.wfile.flush()
        if stall and not path.endswith("index.json"):
            time.sleep(60)
        self.close_connection = True

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
