"""Strict base64url (RFC 7515 §2): one spelling per byte string."""

import os

import pytest

from shared.b64 import b64url_decode, b64url_encode


@pytest.mark.parametrize("length", range(0, 34), ids=lambda n: f"{n}-bytes")
def test_round_trip_without_padding(length):
    data = os.urandom(length)
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", b""), ("AQ", b"\x01"), ("AAE", b"\x00\x01"), ("-_8", b"\xfb\xff"), ("Zm9v", b"foo")],
    ids=["empty", "one-byte", "two-bytes", "url-alphabet", "foo"],
)
def test_known_values(text, expected):
    assert b64url_decode(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "QQ==",
        "QQ=",
        "+_8",
        "/_8",
        "Zm9v\n",
        " Zm9v",
        "Zm 9v",
        "Zm9v.",
        "Z",
        "QR",
        "AB",
        "ABC",
        "Zm9vé",
        "Zm9\x00",
    ],
    ids=[
        "padding",
        "single-pad",
        "plus",
        "slash",
        "newline",
        "leading-space",
        "inner-space",
        "dot",
        "impossible-length",
        "trailing-bits-2",
        "trailing-bits-AB",
        "trailing-bits-3",
        "non-ascii",
        "nul",
    ],
)
def test_non_canonical_refused(text):
    with pytest.raises(ValueError):
        b64url_decode(text)


@pytest.mark.parametrize("value", [b"Zm9v", None, 42], ids=["bytes", "none", "int"])
def test_non_str_refused(value):
    with pytest.raises(ValueError):
        b64url_decode(value)
