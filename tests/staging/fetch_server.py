#!/usr/bin/env python3
"""A small HTTP server for stage fetch's tests, serving the files of one directory with faults
on request.

Each GET takes the next behaviour from a script (set with GET /_control?script=a,b&default=c),
then the default one:
  ok          200, or 206 for "Range: bytes=N-" (honouring If-Range), with ETag and Last-Modified
  norange     ignores Range: always the whole file, no Accept-Ranges
  drop        announces the whole length, sends half of it and closes the connection
  short       drop, ignoring Range
  hang        sends half, then waits (for a test that kills the client meanwhile)
  slow        sends the body in 20 pieces over about 3 s
  long        announces the length, then sends 1000 bytes more
  nolength    announces no length: the body ends when the connection closes
  statusNNN   answers with status NNN and an empty body
  redirect    302 to the same path (the next behaviour serves it)
GET /_log answers the requests seen so far, as JSON: path, Range, If-Range, behaviour.
Usage: fetch_server.py DIR PORT_FILE [CERT KEY]
  binds 127.0.0.1 on a free port and writes it to PORT_FILE; with CERT and KEY (PEM) it speaks
  HTTPS only.
"""
import email.utils
import hashlib
import http.server
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

STATE = {"script": [], "default": "ok", "log": []}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def control(self, query):
        params = urllib.parse.parse_qs(query)
        with LOCK:
            STATE["script"] = [s for s in params.get("script", [""])[0].split(",") if s]
            STATE["default"] = params.get("default", ["ok"])[0]
            STATE["log"] = []
        self.reply(200, b"ok\n")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_control":
            return self.control(url.query)
        if url.path == "/_log":
            with LOCK:
                return self.reply(200, json.dumps(STATE["log"]).encode())
        with LOCK:
            mode = STATE["script"].pop(0) if STATE["script"] else STATE["default"]
            STATE["log"].append({"path": url.path, "range": self.headers.get("Range"),
                                 "if_range": self.headers.get("If-Range"), "mode": mode})
        if mode.startswith("status"):
            return self.reply(int(mode[6:]), headers=[("Retry-After", "0")])
        if mode == "redirect":
            return self.reply(302, headers=[("Location", self.path)])
        path = os.path.join(sys.argv[1], urllib.parse.unquote(url.path).lstrip("/"))
        if not os.path.isfile(path):
            return self.reply(404, b"not found\n")
        self.serve(path, mode)

    def serve(self, path, mode):
        with open(path, "rb") as f:
            data = f.read()
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        modified = email.utils.formatdate(os.stat(path).st_mtime, usegmt=True)
        start, wanted = 0, self.headers.get("Range", "")
        if_range = self.headers.get("If-Range")
        if mode not in ("norange", "short") and wanted.startswith("bytes=") and wanted.endswith("-") and \
                if_range in (None, etag, modified):
            start = int(wanted[6:-1])
            if start >= len(data):
                return self.reply(416, headers=[("Content-Range", "bytes */%d" % len(data))])
        body = data[start:]
        self.send_response(206 if start else 200)
        if mode == "nolength":
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        if mode not in ("norange", "short"):
            self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        self.send_body(body, mode)

    def send_body(self, body, mode):
        if mode in ("drop", "short", "hang"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if mode == "hang":
                time.sleep(60)
            self.close_connection = True
        elif mode == "slow":
            piece = max(1, len(body) // 20)
            for i in range(0, len(body), piece):
                self.wfile.write(body[i:i + piece])
                self.wfile.flush()
                time.sleep(0.15)
        elif mode == "long":
            self.wfile.write(body + b"X" * 1000)
            self.close_connection = True
        else:
            self.wfile.write(body)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if len(sys.argv) == 5:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, sys.argv[2])
    server.serve_forever()


if __name__ == "__main__":
    main()
