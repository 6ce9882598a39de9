#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""testhttpd.py's handler and fault knobs behind TLS, for certificate tests.

Usage: testhttpsd.py --cert PEM --key PEM [testhttpd.py's options: --port-file, --log, --dir]

The test makes a self-signed certificate at test time (openssl req -x509, subjectAltName
IP:127.0.0.1) and starts this server with it. A client that trusts the system's CAs must refuse
it; a client given the same PEM as its CA bundle must accept it (verification still on: the
chain and the name are checked against that bundle). Listens on 127.0.0.1 on a free port, which
it prints and, with --port-file, writes there atomically once it listens. Runs until killed.
Everything but the socket is testhttpd.py's own code, so the knobs and options are the same.
"""

import argparse
import importlib.util
import os
import ssl
import sys
from http.server import ThreadingHTTPServer


def load_testhttpd():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testhttpd.py")
    spec = importlib.util.spec_from_file_location("testhttpd", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, context):
        super().__init__(addr, handler)
        self.context = context

    def handle_error(self, request, client_address):
        pass  # a client refusing the certificate is the expected case, not a server error

    def get_request(self):
        sock, addr = super().get_request()
        # Handshake in the handler's thread, not the accept loop: a client that refuses the
        # certificate must not stall the server for everyone else.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr


class TLSHandlerMixin:
    def setup(self):
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.request.close()
            raise
        super().setup()


def main():
    ap = argparse.ArgumentParser(description="testhttpd.py behind TLS", add_help=False)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    args, rest = ap.parse_known_args()

    base = load_testhttpd()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)

    class Handler(TLSHandlerMixin, base.Handler):
        pass

    # testhttpd's run() does the rest (port file, log, serving) with this server.
    return base.run(TLSServer(("127.0.0.1", 0), Handler, context), base.parse_args(rest))


if __name__ == "__main__":
    sys.exit(main())
