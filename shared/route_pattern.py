"""Route path patterns of the policy, and how a request path is matched against them.

A pattern (README, "The policy") is "/" (the root) or "/"-separated segments, each one of:
  - a literal: RFC 3986 §3.3 pchar, never "*" (an IAM glob metacharacter, so a method
    ARN glob built from the pattern can not confuse it with a wildcard; "?" is not a
    pchar anyway) and never "." or ".." (dot-segments, which clients remove, §5.2.4);
  - "*" or "{name}": exactly one non-empty segment;
  - "**": zero or more non-empty segments, only as the last segment.

Patterns are kept normalised as a tuple of segments where "{name}" became ONE: the
name documents the route, it changes nothing in what matches.
"""

from __future__ import annotations

import string

ONE = "*"
TAIL = "**"

# The verbs API Gateway puts in a method ARN; a method "*" rule means these seven.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@", minus "*".
_PCHAR = frozenset(string.ascii_letters + string.digits + "-._~" + "!$&'()+,;=" + ":@")
_HEX = frozenset(string.hexdigits)
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_REST = _NAME_START | frozenset(string.digits)


def parse_pattern(path: object) -> tuple[str, ...]:
    """The normalised segments of a route path, or ValueError saying what is wrong."""
    if not isinstance(path, str):
        raise ValueError(f"path must be a string, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} must start with '/'")
    if path == "/":
        return ()
    raw = path[1:].split("/")
    names: set[str] = set()
    out: list[str] = []
    for i, seg in enumerate(raw):
        if seg == TAIL:
            if i != len(raw) - 1:
                raise ValueError(f"path {path!r}: '**' may only be the last segment")
            out.append(TAIL)
        elif seg == ONE:
            out.append(ONE)
        elif seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            if not _is_name(name):
                raise ValueError(f"path {path!r}: {seg!r} is not a valid '{{name}}' segment")
            if name in names:
                raise ValueError(f"path {path!r}: segment name {name!r} is used twice")
            names.add(name)
            out.append(ONE)
        else:
            problem = _literal_problem(seg)
            if problem:
                raise ValueError(f"path {path!r}: segment {seg!r} {problem}")
            out.append(seg)
    return tuple(out)


def _is_name(name: str) -> bool:
    return bool(name) and name[0] in _NAME_START and all(c in _NAME_REST for c in name)


def _literal_problem(seg: str) -> str | None:
    if not seg:
        return "is empty (a '//' or a trailing '/')"
    if seg in (".", ".."):
        return "is a dot-segment, which clients remove before sending (RFC 3986 §5.2.4)"
    if "*" in seg or "?" in seg:
        return "mixes a wildcard into a literal (use a whole '*', '**' or '{name}' segment)"
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "%":
            if not (len(seg) >= i + 3 and seg[i + 1] in _HEX and seg[i + 2] in _HEX):
                return "has a '%' that is not a percent-encoding (RFC 3986 §2.1)"
            i += 3
            continue
        if c not in _PCHAR:
            return f"has {c!r}, which is not allowed in a path segment (RFC 3986 §3.3)"
        i += 1
    return None


def split_path(path: object) -> tuple[str, ...] | None:
    """A request path's segments; None for a path no route can match.

    Not a string, no leading "/", or an empty segment ("//", a trailing "/" other than
    the root itself): such a path is simply not allowed, never an exception.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    if path == "/":
        return ()
    segments = tuple(path[1:].split("/"))
    return None if "" in segments else segments


# (Issue 12, item 9.) The authorizer matches the path as received, the service behind the
# gateway routes on the path it decodes (ASGI's `path` is percent-decoded; some servers also
# split on "\\", resolve dot-segments (RFC 3986 §5.2.4) or merge "//"). Where those two
# readings can differ in their segments, the path is refused rather than decided:
# - the percent-encoding of "/" or "\\" (a separator once decoded), "." (a dot-segment once
#   decoded), "%" (double encoding: %252F is %2F after one decoding, "/" after two), "?"
#   and "#" (a decoded one ends the path for whoever parses it again) and NUL;
# - those characters themselves where a path can not hold them unencoded ("\\", "?",
#   "#", NUL: a gateway that decoded the path passes them on);
# - dot-segments and empty segments ("//");
# - ":" raw or encoded: IAM matches a wildcard within one colon-separated segment of an
#   ARN ("You can use wildcard characters (* and ?) within the individual segments of an
#   ARN (the parts separated by colons)", IAM JSON policy elements: Resource), so a path
#   holding ":" splits the method ARN where the policy's Allow and Deny carve-outs were
#   written for one segment, and which of them matches is not documented.
# RFC 3986 §2.3 says producers should not encode unreserved characters such as "." at all,
# so a client that does is not one to accommodate. Every other encoding (%20, UTF-8, ...)
# changes no segment boundary and is decided as usual.
AMBIGUOUS_ENCODINGS = ("%2f", "%5c", "%2e", "%25", "%3f", "%23", "%00", "%3a")
_AMBIGUOUS_CHARS = ("\\", "?", "#", "\x00", ":")


def path_problem(path: str) -> str | None:
    """Why `path` could name different routes to the authorizer and to the service, or
    None when it can not. An ordinary path costs eight substring scans (~0.1 us): the
    authorizer asks this on every decision."""
    if not ("%" in path or "\\" in path or "?" in path or "#" in path or "\x00" in path
            or ":" in path or "//" in path or "/." in path):
        return None
    if "%" in path:
        lowered = path.lower()
        for encoding in AMBIGUOUS_ENCODINGS:
            if encoding in lowered:
                return f"percent-encoded {encoding.upper()}"
    for char in _AMBIGUOUS_CHARS:
        if char in path:
            return f"raw {char!r}"
    if "//" in path:
        return "empty segment"
    if "/." in path:
        for segment in path.split("/"):
            if segment == "." or segment == "..":
                return "dot-segment"
    return None


def matches(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    """Whether the segments of a request path (from split_path) fall under the pattern."""
    if pattern and pattern[-1] == TAIL:
        head = pattern[:-1]
        if len(segments) < len(head):
            return False
    else:
        head = pattern
        if len(segments) != len(head):
            return False
    # Literals never contain "*", so ONE is unambiguous; split_path made every segment
    # non-empty, which is what ONE and TAIL require.
    return all(p == ONE or p == s for p, s in zip(head, segments, strict=False))
