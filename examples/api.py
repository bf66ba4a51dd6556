"""An example API for the demo: it echoes what reached it, including what the gateway
forwarded from the authorizer (X-Authorizer-* headers), so one can see who called.

It does no authorization of its own on purpose: in this deployment shape the gateway is
the only way in, and the API trusts the context headers it adds (the gateway strips any
a client sends). `path` is the path percent-decoded, what a web framework routes on (the
ASGI `path` Starlette matches its routes against is decoded: `/entries/1%2Faudit` is the
route `/entries/{id}/audit` there); `raw_path` is the path as received. That is why the
gateway and the authorizer refuse a path whose two readings differ (docs/caching.md).
Stdlib only: `python -m examples.api --port 0` picks a free port and
prints it on its first line.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

MAX_BODY = 1024 * 1024


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tollgate-example-api"

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._send(413, {"error": "body too large"})
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        raw_path, _, query = self.path.partition("?")
        authorizer = {
            k[len("x-authorizer-"):].replace("-", "_"): v
            for k, v in ((k.lower(), v) for k, v in self.headers.items())
            if k.startswith("x-authorizer-")
        }
        self._send(200, {
            "service": "example-orders-api",
            "method": self.command,
            "path": unquote(raw_path),
            "raw_path": raw_path,
            "query": parse_qs(query),
            "body": body,
            "authorizer": authorizer,
        })

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"example-api: {format % args}\n")


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), EchoHandler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Example API that echoes its requests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = p.parse_args(argv)
    server = make_server(args.host, args.port)
    host, port = server.server_address[:2]
    print(f"example-api: listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
