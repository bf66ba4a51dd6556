"""Known-weak public keys that are well-formed yet must never verify."""

from __future__ import annotations

# ROCA (CVE-2017-15361): Infineon moduli satisfy n mod p in <65537> mod p for every small
# prime p (Nemec et al., CCS 2017); a random modulus passes all of these with negligible
# probability. The first 38 odd primes divide M for every ROCA key size.
_ROCA_PRIMES = (
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71,
    73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
)


def _subgroup(generator: int, p: int) -> frozenset[int]:
    members, x = {1}, generator % p
    while x not in members:
        members.add(x)
        x = x * generator % p
    return frozenset(members)


_ROCA_SUBGROUPS = tuple((p, _subgroup(65537, p)) for p in _ROCA_PRIMES)


def has_roca_fingerprint(n: int) -> bool:
    return all(n % p in group for p, group in _ROCA_SUBGROUPS)
