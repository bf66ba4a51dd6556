"""JWKS cache: TTL refresh, unknown-kid cooldown, issuer down, cold start without the
issuer, bundled file, unfit keys, and the urllib fetcher's limits."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers.mint import make_key

from authorizer.jwks_cache import JwksCache, fetch_jwks
from shared.errors import KeySetError

KEY_A = make_key("RS256", kid="a")
KEY_B = make_key("ES256", kid="b")
URI = "https://issuer.example.com/.well-known/jwks.json"


def cache(issuer, clock, **kwargs):
    logged = []
    kwargs.setdefault("uri", URI)
    c = JwksCache(ttl=300, cooldown=60, fetcher=issuer, clock=clock,
                  log=lambda level, event, **f: logged.append((level, event, f)), **kwargs)
    c.logged = logged
    return c


def test_first_lookup_fetches_then_ttl_holds_then_refetches(fake_issuer, fake_clock):
    issuer, clock = fake_issuer(KEY_A[1]), fake_clock()
    c = cache(issuer, clock)
    assert issuer.calls == 0  # nothing at construction: no network at cold start
    assert c.get("a").kid == "a"
    clock.advance(299)
    assert c.get("a") is not None and issuer.calls == 1
    issuer.doc = {"keys": [KEY_B[1]]}  # the issuer rotated and withdrew "a"
    clock.advance(1)
    assert c.get("b").kid == "b"
    assert issuer.calls == 2
    assert c.get("a") is None  # withdrawn: gone within one TTL


def test_unknown_kid_refetches_at_most_once_per_cooldown(fake_issuer, fake_clock):
    issuer, clock = fake_issuer(KEY_A[1]), fake_clock()
    c = cache(issuer, clock)
    c.get("a")
    clock.advance(60)
    for kid in ("x", "y", "z", "a-but-not"):
        assert c.get(kid) is None
    assert issuer.calls == 2
    clock.advance(59)
    assert c.get("q") is None and issuer.calls == 2
    clock.advance(1)
    assert c.get("q") is None and issuer.calls == 3


def test_unknown_kid_right_after_a_fetch_waits_for_the_cooldown(fake_issuer, fake_clock):
    issuer, clock = fake_issuer(KEY_A[1]), fake_clock()
    c = cache(issuer, clock)
    c.get("a")
    issuer.doc["keys"].append(KEY_B[1])
    assert c.get("b") is None and issuer.calls == 1
    clock.advance(60)
    assert c.get("b") is not None and issuer.calls == 2


def test_issuer_down_keeps_serving_cached_keys(fake_issuer, fake_clock):
    issuer, clock = fake_issuer(KEY_A[1]), fake_clock()
    c = cache(issuer, clock)
    c.get("a")
    issuer.down = True
    clock.advance(301)
    assert c.get("a") is not None  # refresh failed, cached key still serves
    assert issuer.calls == 2
    assert ("warning", "jwks_fetch_failed") in [(lvl, ev) for lvl, ev, _ in c.logged]
    for _ in range(50):
        assert c.get("a") is not None
    assert issuer.calls == 2  # failures retried per cooldown, not per request
    clock.advance(60)
    c.get("a")
    assert issuer.calls == 3
    issuer.down = False
    clock.advance(60)
    c.get("a")
    assert issuer.calls == 4 and c.has_keys


@pytest.mark.parametrize(
    "failure",
    [KeySetError("down"), TimeoutError("slow"), RuntimeError("fetcher bug"), b"not json",
     b'{"keys": 5}', b"[]"],
    ids=["keyset-error", "timeout", "bug", "not-json", "keys-not-list", "not-object"],
)
def test_any_fetch_failure_is_absorbed_and_logged(fake_clock, failure):
    clock = fake_clock()

    def fetcher(uri):
        if isinstance(failure, Exception):
            raise failure
        return failure

    c = cache(fetcher, clock)
    assert c.get("a") is None
    assert not c.has_keys
    assert c.logged[-1][1] == "jwks_fetch_failed"


def test_cold_start_unreachable_then_recovery(make_harness, fake_issuer, rsa_key, events):
    issuer = fake_issuer(rsa_key[1])
    issuer.down = True
    h = make_harness(issuer=issuer)
    event = events("go-request")
    token = h.token()
    for _ in range(3):
        with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
            h.handler(event.with_token(token))
    assert h.last()["reason"] == "jwks_unavailable"
    assert issuer.calls == 1
    issuer.down = False
    h.clock.advance(60)
    assert h.handler(event.with_token(token))["principalId"] == "client-1"
    assert issuer.calls == 2


def test_bundled_file_serves_without_network(make_harness, fake_issuer, rsa_key, events,
                                             tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key[1]]}))
    issuer = fake_issuer(rsa_key[1])
    h = make_harness(issuer=issuer, jwks_file=str(path))
    event = events("go-token")
    assert h.handler(event.with_token(h.token()))["principalId"] == "client-1"
    assert issuer.calls == 0
    # An unknown kid still asks the issuer (a key rotated in after the deploy).
    rotated = make_key("RS256", kid="rsa-2")
    issuer.doc["keys"].append(rotated[1])
    assert h.handler(event.with_token(h.token(key=rotated[0], kid="rsa-2")))
    assert issuer.calls == 1


def test_file_only_never_fetches(make_harness, fake_issuer, rsa_key, events, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key[1]]}))
    issuer = fake_issuer(rsa_key[1])
    h = make_harness(issuer=issuer, jwks_file=str(path), env={"AUTHORIZER_JWKS_URI": ""})
    h.clock.advance(10_000)
    with pytest.raises(Exception, match="Unauthorized"):
        h.handler(events("go-token").with_token(h.token(kid="other")))
    assert h.handler(events("go-token").with_token(h.token()))
    assert issuer.calls == 0


def test_unfit_keys_in_the_file_are_never_used(tmp_path, fake_clock, fake_issuer):
    enc = dict(KEY_A[1], use="enc")
    oct_key = {"kty": "oct", "kid": "o", "k": "c2VjcmV0"}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [enc, oct_key, KEY_B[1]]}))
    c = JwksCache.from_file(str(path), uri=None, clock=fake_clock())
    assert c.get("a") is None and c.get("o") is None
    assert c.get("b").kid == "b"
    assert c.get(None).kid == "b"  # the only usable key: unambiguous


def test_broken_file_fails_the_cold_start(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text("{not json")
    with pytest.raises(KeySetError):
        JwksCache.from_file(str(path))


# -- the real fetcher against a loopback server --------------------------------------


class _Server:
    def __init__(self, routes: dict):
        routes_ = routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, headers, body = routes_[self.path]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    jwks = json.dumps({"keys": [KEY_A[1]]}).encode()
    s = _Server({
        "/jwks": (200, {"Content-Type": "application/json"}, jwks),
        "/big": (200, {}, b"x" * 2048),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/to-jwks": (302, {"Location": "/jwks"}, b""),
        "/error": (500, {}, b"oops"),
    })
    yield s
    s.close()


def test_fetcher_reads_a_jwks(server):
    assert json.loads(fetch_jwks(server.url + "/jwks"))["keys"][0]["kid"] == "a"


def test_fetcher_follows_http_redirect(server):
    assert json.loads(fetch_jwks(server.url + "/to-jwks"))["keys"]


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [("/big", {"max_bytes": 1024}), ("/to-file", {}), ("/error", {}), ("/missing", {})],
    ids=["size-cap", "redirect-to-file-scheme", "http-500", "no-route"],
)
def test_fetcher_refuses(server, path, kwargs):
    if path == "/missing":
        server.httpd.RequestHandlerClass.do_GET = lambda self: self.send_error(404)
    with pytest.raises(KeySetError):
        fetch_jwks(server.url + path, **kwargs)


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "ftp://x/jwks", "gopher://x"])
def test_fetcher_only_http(uri):
    with pytest.raises(KeySetError):
        fetch_jwks(uri)


def test_fetcher_unreachable_is_keyset_error():
    with pytest.raises(KeySetError):
        fetch_jwks("http://127.0.0.1:9/jwks", timeout=0.5)


# -- strict JSON, as for tokens and revocation lists (issue 12, item 14) ---------------


def _doc(text: str) -> bytes:
    return text.replace("KEY_B", json.dumps(KEY_B[1])).encode()


STRICT_REFUSALS = {
    # last-wins would adopt key b from each of these
    "duplicate-keys-member": _doc('{"keys": [], "keys": [KEY_B]}'),
    "duplicate-in-a-key": _doc('{"keys": [KEY_B]}').replace(b'"kid": "b"',
                                                           b'"kid": "x", "kid": "b"'),
    "nan": _doc('{"keys": [KEY_B], "max_age": NaN}'),
    "infinity": _doc('{"keys": [KEY_B], "max_age": -Infinity}'),
    "utf-16": json.dumps({"keys": [KEY_B[1]]}).encode("utf-16"),
    "deep": _doc('{"keys": [KEY_B], "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
}


@pytest.mark.parametrize("body", STRICT_REFUSALS.values(), ids=STRICT_REFUSALS.keys())
def test_fetched_jwks_is_parsed_strictly(fake_clock, body):
    c = cache(lambda uri: body, fake_clock())
    assert c.get("b") is None
    assert c.get(None) is None
    level, event, fields = c.logged[-1]
    assert (level, event) == ("warning", "jwks_fetch_failed")
    assert fields["error"].startswith("KeySetError: JWKS is not strict JSON")


def test_strict_parse_still_reads_a_good_jwks(fake_clock):
    body = _doc('{"keys": [KEY_B]}')
    assert cache(lambda uri: body, fake_clock()).get("b").kid == "b"


@pytest.mark.parametrize("body", STRICT_REFUSALS.values(), ids=STRICT_REFUSALS.keys())
def test_bundled_file_is_parsed_strictly(tmp_path, body):
    path = tmp_path / "jwks.json"
    path.write_bytes(body)
    with pytest.raises(KeySetError, match=r"\AJWKS is not strict JSON"):
        JwksCache.from_file(str(path))


def test_oversized_jwks_is_refused_whatever_its_source(tmp_path, fake_clock):
    from authorizer.jwks_cache import MAX_JWKS_BYTES

    body = _doc('{"keys": [KEY_B], "pad": "PAD"}').replace(b"PAD", b"x" * MAX_JWKS_BYTES)
    path = tmp_path / "jwks.json"
    path.write_bytes(body)
    with pytest.raises(KeySetError, match=r"\AJWKS larger than"):
        JwksCache.from_file(str(path))
    c = cache(lambda uri: body, fake_clock())  # a fetcher that does not bound the read
    assert c.get("b") is None
    assert c.logged[-1][2]["error"].startswith("KeySetError: JWKS larger than")
