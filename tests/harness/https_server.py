#!/usr/bin/env python3
"""A static HTTPS file server for tests of downloads (agent/fetch.c).

Usage: https_server.py --dir D --cert C --key K --port-file F

Binds 127.0.0.1 on a port the kernel picks, writes that port to F (through
F.tmp and a rename, so a reader never sees half of it) and serves the files
under D, which also makes D/x.git a "dumb HTTP" git repository once
`git update-server-info` has run in it. Besides the files:

  /status/N          answers status N with a short body
  /redirect/PATH     302 to https://127.0.0.1:PORT/PATH
  /redirect-http     302 to http://127.0.0.1:PORT/ (which a client must refuse)
  /big               200, no Content-Length, bytes until the client hangs up
  /big-declared      200 with Content-Length 1 TiB, then bytes until the client
                     hangs up
  /slow/...          200 with Content-Length 10, then nothing for a minute

Exits on SIGTERM, and by itself within half a second when its parent dies.
Standard library only.
"""
import argparse
import http.server
import os
import signal
import ssl
import sys
import threading
import time

CHUNK = b"\x5a" * 65536


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        if os.environ.get("HTTPS_SERVER_LOG"):
            sys.stderr.write("https_server: " + (fmt % args) + "\n")

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _stream(self, declared):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if declared:
            self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        try:
            while True:
                self.wfile.write(CHUNK)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        self.close_connection = True

    def do_GET(self):
        port = self.server.server_address[1]
        path = self.path.split("?", 1)[0]
        if path.startswith("/status/"):
            code = int(path[len("/status/"):])
            body = ("status %d\n" % code).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.startswith("/redirect/"):
            self._redirect("https://127.0.0.1:%d/%s" % (port, path[len("/redirect/"):]))
        elif path == "/redirect-http":
            self._redirect("http://127.0.0.1:%d/" % port)
        elif path == "/big":
            self._stream(False)
        elif path == "/big-declared":
            self._stream(True)
        elif path.startswith("/slow/"):
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            time.sleep(60)
            self.close_connection = True
        else:
            super().do_GET()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that rejects the certificate or hangs up is expected.
        pass


def watch_parent(ppid):
    while os.getppid() == ppid:
        time.sleep(0.5)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()

    directory = os.path.abspath(args.dir)

    def handler(*a, **kw):
        return Handler(*a, directory=directory, **kw)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server = Server(("127.0.0.1", 0), handler)
    # The handshake happens in the request's thread, so that a client that
    # stalls it does not hold up the others.
    server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
