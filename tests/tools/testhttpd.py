#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dsvm's loopback HTTP server with fault knobs (python3 standard library only).

Usage: testhttpd.py [--port-file FILE] [--log FILE] [--dir DIR]

Listens on 127.0.0.1 on a free port chosen by the kernel; prints the port on stdout (one line)
and, with --port-file, writes it there atomically once the socket listens, so a test can wait
for the file. Runs until killed. Every request is appended to --log as one line:
"METHOD PATH metadata=<Metadata header or -> xff=<X-Forwarded-For or -> n=<count for this path>".

Knobs are path segments, so one server serves every case at once and each case is a URL:
  http://127.0.0.1:PORT/<knob>/<knob>/...   (a segment that is not a knob is ignored)

  status=CODE      answer CODE (403, 404, 410, 429, 500, ...) with a short text body
  seq=C1,C2,...    the n-th request to this exact path gets Cn (the last repeats): 500,500,200
  metadata         require the header "Metadata: true" (IMDS does), else 400
  vm=NAME          the vmSize in the default JSON body (default Standard_NC24ads_A100_v4)
  json=KIND        body variants: novmsize ({"location":..}), number ({"vmSize": 6}),
                   array ([]), whole (the full instance document, vmSize under "compute")
  html             200 with an HTML page (what a captive portal or proxy answers)
  truncate         Content-Length says more than is sent, then the connection closes
  huge=BYTES       200 with a body of BYTES bytes (streamed; a JSON string that never ends)
  stall=SECONDS    wait this long before answering (the client should time out first)
  stallbody=SECONDS send headers and half the body, then wait
  reset            close the connection at once with a TCP reset, no answer at all
  redirect=N       302 to the same path with N-1 (0 serves normally); redirect=loop forever
  redirect-scheme  302 to https:// on the same port (a client must refuse to follow)
  files/REL        serve DIR/REL (from --dir), with "Range: bytes=N-" for resumed downloads
  cut=BYTES        with files/: the first request for this path gets the headers of the whole
                   answer but only BYTES bytes of its body, then the connection closes
  cutrst=BYTES     the same, ending with a TCP reset instead of a close
  norange          with files/: ignore Range headers (always 200 with the whole file)
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS = {}
COUNTS_LOCK = threading.Lock()


def parse_knobs(path):
    knobs = {}
    segments = path.split("?", 1)[0].strip("/").split("/")
    for i, seg in enumerate(segments):
        if seg == "files":
            knobs["files"] = "/".join(segments[i + 1:])
            break
        key, _, value = seg.partition("=")
        knobs[key] = value
    return knobs


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dsvm-testhttpd/1"

    def log_message(self, fmt, *args):  # quiet on stderr; --log records requests
        pass

    def record(self, n):
        log = self.server.request_log
        if not log:
            return
        line = "%s %s metadata=%s xff=%s n=%d\n" % (
            self.command, self.path, self.headers.get("Metadata", "-"),
            self.headers.get("X-Forwarded-For", "-"), n)
        with COUNTS_LOCK, open(log, "a") as f:
            f.write(line)

    def send_body(self, code, body, ctype="application/json", length=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def default_body(self, k):
        vm = k.get("vm") or "Standard_NC24ads_A100_v4"
        kind = k.get("json", "")
        if kind == "novmsize":
            doc = {"location": "eastus", "name": "vm"}
        elif kind == "number":
            doc = {"vmSize": 6}
        elif kind == "array":
            doc = []
        elif kind == "whole":
            doc = {"compute": {"vmSize": vm, "location": "eastus"}, "network": {}}
        else:
            doc = {"location": "eastus", "name": "vm", "vmSize": vm, "zone": ""}
        return json.dumps(doc).encode()

    def do_GET(self):
        with COUNTS_LOCK:
            n = COUNTS[self.path] = COUNTS.get(self.path, 0) + 1
        self.record(n)
        k = parse_knobs(self.path)

        if "reset" in k:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if "stall" in k:
            time.sleep(float(k["stall"] or 30))
        if "metadata" in k and self.headers.get("Metadata") != "true":
            return self.send_body(400, b'{"error": "Bad request. Required metadata header '
                                  b'not specified"}')
        if "redirect" in k and k["redirect"] not in ("", "0"):
            left = k["redirect"]
            nxt = self.path if left == "loop" else self.path.replace(
                "redirect=" + left, "redirect=%d" % (int(left) - 1), 1)
            self.send_response(302)
            self.send_header("Location", nxt)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "redirect-scheme" in k:
            self.send_response(302)
            self.send_header("Location", "https://127.0.0.1:%d/" % self.server.server_port)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "seq" in k:
            codes = [int(c) for c in k["seq"].split(",") if c]
            code = codes[min(n, len(codes)) - 1]
            if code != 200:
                return self.send_body(code, b"sequence says %d\n" % code, "text/plain")
        if "status" in k:
            code = int(k["status"])
            return self.send_body(code, b"status %d\n" % code, "text/plain")
        if "html" in k:
            return self.send_body(200, b"<html><body><h1>Sign in to continue</h1></body></html>",
                                  "text/html")
        if "files" in k:
            return self.serve_file(k["files"], k, n)
        if "huge" in k:
            size = int(k["huge"] or 1 << 24)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b'{"vmSize": "' + b"A" * 65536
            sent = 0
            try:
                while sent < size:
                    part = chunk[: min(len(chunk), size - sent)]
                    self.wfile.write(part)
                    sent += len(part)
                    chunk = b"A" * 65536
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        body = self.default_body(k)
        if "truncate" in k:
            self.send_body(200, body[: len(body) // 2], length=len(body))
            self.close_connection = True
            return
        if "stallbody" in k:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            time.sleep(float(k["stallbody"] or 30))
            self.close_connection = True
            return
        return self.send_body(200, body)

    def serve_file(self, rel, k=None, n=1):
        k = k or {}
        root = self.server.file_dir
        path = os.path.realpath(os.path.join(root or "/nonexistent", rel))
        if not root or not path.startswith(os.path.realpath(root) + os.sep) or \
                not os.path.isfile(path):
            return self.send_body(404, b"no such file\n", "text/plain")
        size = os.path.getsize(path)
        start = 0
        rng = "" if "norange" in k else self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        # The first request of a path with cut= or cutrst= stops after that many body bytes.
        cut = None
        if n == 1 and ("cut" in k or "cutrst" in k):
            cut = int(k.get("cut") or k.get("cutrst") or 0)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        sent = 0
        # Streamed in blocks: a large artifact starts arriving at once and is never held whole.
        with open(path, "rb") as f:
            f.seek(start)
            try:
                while cut is None or sent < cut:
                    data = f.read(1 << 20 if cut is None else min(1 << 20, cut - sent))
                    if not data:
                        break
                    self.wfile.write(data)
                    sent += len(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
        if cut is not None:
            self.wfile.flush()
            if "cutrst" in k:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True


def run(server, args):
    """Serve until killed: announce the port (stdout, then --port-file atomically), log
    requests to --log, serve files from --dir. testhttpsd.py calls this with a TLS server."""
    server.daemon_threads = True
    server.request_log = args.log
    server.file_dir = args.dir
    port = server.server_address[1]
    print(port, flush=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def parse_args(argv=None):
    """The options every variant of the server takes (testhttpsd.py adds its own)."""
    ap = argparse.ArgumentParser(description="dsvm loopback HTTP server with fault knobs")
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--dir")
    return ap.parse_args(argv)


def main():
    return run(ThreadingHTTPServer(("127.0.0.1", 0), Handler), parse_args())


if __name__ == "__main__":
    sys.exit(main())
