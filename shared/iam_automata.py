"""Finite automata over method-ARN resource suffixes ("GET/orders/42"), to reason exactly.

The IAM compiler (shared/iam.py) must know whether an IAM glob can match a path that a
route pattern covers, and whether what a set of globs grants is exactly what the
granted routes cover. Both are emptiness questions on regular languages, answered here
by a breadth-first search over product states (one state set per automaton), never by
sampling. The alphabet is reduced to classes: "/", each literal character of the
automata involved, and one "other" character standing for every remaining character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from shared.route_pattern import ONE, TAIL

NOT_SLASH = 0  # edge label: any character except "/"
ANY = 1  # edge label: any character
Label = str | int

# Candidate readable stand-ins for "any other character" in witnesses.
_OTHER = "xyzqjkXYZQ0123456789_~-" + "".join(chr(c) for c in range(0xE000, 0xE100))


# A product state of `find_word`: one state set per `must` automaton, and the `must_not`
# side's (automaton index, state) pairs.
State = tuple[tuple[frozenset[int], ...], frozenset[tuple[int, int]]]


class TooComplex(Exception):
    """The search went past its state budget; callers must assume the worst."""


@dataclass(frozen=True, slots=True)
class Nfa:
    start: frozenset[int]
    accept: frozenset[int]
    edges: tuple[tuple[tuple[Label, frozenset[int]], ...], ...]  # per state
    chars: frozenset[str]  # literal characters on its edges
    lits: tuple[frozenset[str], ...]  # per state: the literal characters leaving it
    prefix: str  # every word starts with it
    suffix: str  # every word ends with it
    # Lazy subset construction shared by every search over this automaton:
    # (state set, character class) -> next state set.
    steps: dict[tuple[frozenset[int], str], frozenset[int]] = field(
        default_factory=dict, compare=False, repr=False
    )


@lru_cache(maxsize=4096)
def glob_nfa(glob: str) -> Nfa:
    """IAM resource glob: "*" any run of characters (including "/"), "?" exactly one."""
    n = len(glob)

    def closure(i: int) -> frozenset[int]:
        states = {i}
        while i < n and glob[i] == "*":  # "*" may match nothing: skip it
            i += 1
            states.add(i)
        return frozenset(states)

    edges: list[tuple[tuple[Label, frozenset[int]], ...]] = []
    for i, c in enumerate(glob):
        if c == "*":
            edges.append(((ANY, closure(i)),))
        elif c == "?":
            edges.append(((ANY, closure(i + 1)),))
        else:
            edges.append(((c, closure(i + 1)),))
    edges.append(())
    wild = [i for i, c in enumerate(glob) if c in "*?"]
    prefix = glob[: wild[0]] if wild else glob
    suffix = glob[wild[-1] + 1:] if wild else glob
    return _nfa(closure(0), frozenset({n}), tuple(edges), prefix, suffix)


def _nfa(start: frozenset[int], accept: frozenset[int],
         edges: tuple[tuple[tuple[Label, frozenset[int]], ...], ...], prefix: str,
         suffix: str) -> Nfa:
    lits = tuple(frozenset(label for label, _ in out if isinstance(label, str))
                 for out in edges)
    return Nfa(start, accept, edges, frozenset().union(*lits), lits, prefix, suffix)


@lru_cache(maxsize=4096)
def route_nfa(method: str, pattern: tuple[str, ...]) -> Nfa:
    """The exact language of a route for one method: "METHOD/" + the paths it matches.

    ONE is one or more non-"/" characters; TAIL is zero or more such segments (so
    "/orders/**" covers "orders" and "orders/a/b", "/**" covers "" and "a/b").
    """
    edges: list[list[tuple[Label, int]]] = []

    def new() -> int:
        edges.append([])
        return len(edges) - 1

    def chain(state: int, text: str) -> int:
        for c in text:
            nxt = new()
            edges[state].append((c, nxt))
            state = nxt
        return state

    accept: set[int] = set()
    state = chain(new(), f"{method}/")
    for i, seg in enumerate(pattern):
        if seg == TAIL:
            accept.add(state)  # zero segments
            entry = state
            if i > 0:
                entry = new()
                edges[state].append(("/", entry))
            inside, between = new(), new()
            edges[entry].append((NOT_SLASH, inside))
            edges[inside] += [(NOT_SLASH, inside), ("/", between)]
            edges[between].append((NOT_SLASH, inside))
            accept.add(inside)
            break
        if i > 0:
            state = chain(state, "/")
        if seg == ONE:
            inside = new()
            edges[state].append((NOT_SLASH, inside))
            edges[inside].append((NOT_SLASH, inside))
            state = inside
        else:
            state = chain(state, seg)
    else:
        accept.add(state)
    frozen = tuple(tuple((label, frozenset({dst})) for label, dst in out) for out in edges)
    literal = [s for s in pattern if s not in (ONE, TAIL)]
    prefix = f"{method}/" + "/".join(_takewhile_literal(pattern))
    if not pattern or (ONE not in pattern and TAIL not in pattern):
        suffix = prefix = f"{method}/" + "/".join(literal)
    elif pattern[-1] not in (ONE, TAIL):
        suffix = "/" + pattern[-1]
    else:
        suffix = ""
    return _nfa(frozenset({0}), frozenset(accept), frozen, prefix, suffix)


def _takewhile_literal(pattern: tuple[str, ...]) -> list[str]:
    out = []
    for seg in pattern:
        if seg in (ONE, TAIL):
            break
        out.append(seg)
    return out


def _step(nfa: Nfa, states: frozenset[int], c: str) -> frozenset[int]:
    # Every character that is neither "/" nor one of this automaton's literals behaves
    # the same for it: memoise them under one key.
    key = (states, c if c == "/" or c in nfa.chars else "")
    out = nfa.steps.get(key)
    if out is None:
        acc: set[int] = set()
        for s in states:
            for label, targets in nfa.edges[s]:
                if label == c or label is ANY or (label is NOT_SLASH and c != "/"):
                    acc |= targets
        out = nfa.steps[key] = frozenset(acc)
    return out


def find_word(must: Sequence[Nfa], must_not: Sequence[Nfa] = (),
              budget: int = 200_000) -> str | None:
    """A shortest word accepted by every `must` automaton and by no `must_not` one.

    None when there is none (the intersection minus the union is empty). Raises
    TooComplex past `budget` product states, so a pathological policy costs bounded time.
    """
    must = tuple(must)
    if not _compatible(must):
        return None  # cheap and common: literal prefixes or suffixes disagree
    # A `must_not` automaton whose literal prefix/suffix no `must` word can have is moot.
    neg = tuple(n for n in must_not if _compatible((*must, n)))
    chars: set[str] = {"/"}
    for nfa in must + neg:
        chars |= nfa.chars
    other = next(c for c in _OTHER if c not in chars)
    # The `must_not` side is one subset construction over their disjoint union, its
    # states (automaton index, state) pairs; memoised for this search.
    memo: dict[tuple[frozenset[tuple[int, int]], str], frozenset[tuple[int, int]]] = {}

    def step_neg(pairs: frozenset[tuple[int, int]], c: str) -> frozenset[tuple[int, int]]:
        out = memo.get((pairs, c))
        if out is None:
            acc: set[tuple[int, int]] = set()
            for i, q in pairs:
                for label, targets in neg[i].edges[q]:
                    if label == c or label is ANY or (label is NOT_SLASH and c != "/"):
                        acc.update((i, t) for t in targets)
            out = memo[(pairs, c)] = frozenset(acc)
        return out

    start: State = (tuple(n.start for n in must),
                    frozenset((i, q) for i, n in enumerate(neg) for q in n.start))
    parent: dict[State, tuple[State, str] | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for state in frontier:
            pos, negs = state
            if all(s & n.accept for n, s in zip(must, pos, strict=True)) and not any(
                    q in neg[i].accept for i, q in negs):
                return _word(parent, state)
            # Characters no current state has a literal edge for all behave like
            # `other`: only "/", `other` and those literals need exploring from here.
            lits: set[str] = set()
            for nfa, states in zip(must, pos, strict=True):
                for q in states:
                    lits |= nfa.lits[q]
            for i, q in negs:
                lits |= neg[i].lits[q]
            lits.discard("/")
            for c in (other, "/", *sorted(lits)):  # `other` first: readable witnesses
                nxt_pos = tuple(_step(n, s, c) for n, s in zip(must, pos, strict=True))
                if not all(nxt_pos):
                    continue  # a `must` automaton died
                nxt = (nxt_pos, step_neg(negs, c))
                if nxt in parent:
                    continue
                parent[nxt] = (state, c)
                if len(parent) > budget:
                    raise TooComplex(f"more than {budget} product states")
                nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return None


def _compatible(nfas: Sequence[Nfa]) -> bool:
    for a in nfas:
        for b in nfas:
            if not (a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)):
                return False
            if not (a.suffix.endswith(b.suffix) or b.suffix.endswith(a.suffix)):
                return False
    return True


def _word(parent: dict[State, tuple[State, str] | None], state: State) -> str:
    out: list[str] = []
    while (link := parent[state]) is not None:
        state, c = link
        out.append(c)
    return "".join(reversed(out))


def covers(big: Nfa, small: Nfa) -> bool:
    """Whether every word of `small` is a word of `big`."""
    return find_word((small,), (big,)) is None
