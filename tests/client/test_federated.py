"""Federated client authentication from a file (RFC 7521 §4.2, RFC 7523 §2.2): the
platform's identity token is read at every token request, so a Kubernetes-style
symlink swap, a rename over the file and an in-place rewrite are all picked up. The
client side only, against a stub token endpoint (the issuer side is its own feature)."""

from __future__ import annotations

import os
import time

import pytest
from helpers.client_assertion import client_assertion
from helpers.mint import make_key
from tollgate_client import JWT_BEARER, TokenError, TokenSource

pytestmark = pytest.mark.slow

K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
SUBJECT = "system:serviceaccount:shop:orders-worker"


def k8s_token(audience: str) -> str:
    private, jwk = make_key("RS256", kid="k8s-1")
    return client_assertion(private, "RS256", SUBJECT, audience, now=time.time(),
                            kid=jwk["kid"], iss=K8S_ISSUER, exp=int(time.time()) + 3600)


class ProjectedVolume:
    """The kubelet's layout for a projected token: `token` -> `..data/token`, `..data` ->
    a timestamped directory; rotation writes a new directory and swaps `..data`
    atomically (a rename of a new symlink over the old one)."""

    def __init__(self, root) -> None:
        self.root = root
        self.generation = 0

    @property
    def path(self) -> str:
        return str(self.root / "token")

    def write(self, content: str) -> None:
        self.generation += 1
        data_dir = self.root / f"..2025_01_01_00_00_{self.generation:02d}"
        data_dir.mkdir()
        (data_dir / "token").write_text(content)
        tmp = self.root / "..data_tmp"
        os.symlink(data_dir.name, tmp)
        os.replace(tmp, self.root / "..data")
        if not (self.root / "token").is_symlink():
            os.symlink("..data/token", self.root / "token")


def test_projected_token_rotation_by_symlink_swap(stub, tmp_path):
    volume = ProjectedVolume(tmp_path)
    first, second = k8s_token(stub.token_endpoint), k8s_token(stub.token_endpoint)
    volume.write(first)
    source = TokenSource(stub.url, "c_orders", assertion_file=volume.path, scope="orders:read")
    assert source.token() == "tok-1"
    volume.write(second)  # the kubelet rotates the token
    source.invalidate("tok-1")
    assert source.token() == "tok-2"
    forms = [r["form"] for r in stub.requests]
    assert [f["client_assertion"] for f in forms] == [first, second]
    assert {f["client_assertion_type"] for f in forms} == {JWT_BEARER}
    assert {f["client_id"] for f in forms} == {"c_orders"}
    assert all("authorization" not in r["headers"] for r in stub.requests)
    assert (source.auth.reads, source.auth.changes) == (2, 1)


@pytest.mark.parametrize("how", ["in_place", "rename_over"])
def test_rewritten_file_is_read_again(stub, tmp_path, how):
    path = tmp_path / "token"
    first, second = k8s_token(stub.token_endpoint), k8s_token(stub.token_endpoint)
    path.write_text(first + "\n")  # a trailing newline is not part of the JWT
    source = TokenSource(stub.url, None, assertion_file=path)
    assert source.token() == "tok-1"
    if how == "in_place":
        with open(path, "r+") as handle:  # same inode, new content
            handle.write(second)
            handle.truncate()
    else:
        (tmp_path / "new").write_text(second)
        os.replace(tmp_path / "new", path)
    source.invalidate("tok-1")
    assert source.token() == "tok-2"
    forms = [r["form"] for r in stub.requests]
    assert [f["client_assertion"] for f in forms] == [first, second]
    assert all("client_id" not in f for f in forms)  # none given: the assertion names it


def test_every_attempt_rereads_the_file(stub, tmp_path, sleeps):
    path = tmp_path / "token"
    path.write_text(k8s_token(stub.token_endpoint))
    stub.then(503, {"error": "temporarily_unavailable"})
    source = TokenSource(stub.url, None, assertion_file=path, sleep=sleeps.append)
    assert source.token() == "tok-1"
    assert source.auth.reads == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "No such file or directory"),
        ("", "not a compact JWT"),
        ("not-a-jwt", "not a compact JWT"),
        ("a.b.c d.e.f", "not a compact JWT"),
        ("\xe9.b.c", "not a JWT (not ASCII)"),
        ("a." + "b" * 70000 + ".c", "larger than 65536 bytes"),
    ],
)
def test_unusable_file_is_one_line_without_its_content(stub, tmp_path, sleeps, content, message):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content, encoding="latin-1")
    source = TokenSource(stub.url, None, assertion_file=path, sleep=sleeps.append)
    with pytest.raises(TokenError) as failed:
        source.token()
    assert str(failed.value) == f"assertion file {path}: {message}"
    assert stub.requests == [] and sleeps == []  # nothing sent, nothing retried
