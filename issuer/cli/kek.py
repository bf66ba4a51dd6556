"""`issuer kek new|rotate`: the key-encryption key (KEK).

`new` prints a fresh KEK (base64url of 32 bytes from the OS CSPRNG), the form
ISSUER_KEY_ENCRYPTION_KEY takes; it touches nothing.

`rotate` re-seals every signing key, the client-secret HMAC key and the KEK check value
under ISSUER_KEY_ENCRYPTION_KEY, opening them with it or with
ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY (`issuer/keys/kek_check.py` `rekey`, one
transaction). Client secrets keep working: they are hashed under a data key, not under
the KEK. The change without downtime (README, "Changing the KEK"):
1. `issuer kek new` -> NEW.
2. Give every process ISSUER_KEY_ENCRYPTION_KEY=NEW and
   ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY=OLD, and restart them one by one. Processes not
   restarted yet (OLD only) keep working: nothing is re-sealed yet, and the restarted
   ones keep sealing new signing keys under OLD, the key the database is sealed under.
3. Once every process has both: `issuer kek rotate`.
4. Drop ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY at the next restart. A process started with
   OLD alone from then on refuses to start (its check value no longer opens).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from issuer.settings import Settings


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser(
        "kek", help="the key-encryption key: make one, re-seal the stored keys under a new one"
    )
    verbs = parser.add_subparsers(dest="kek_command", required=True, metavar="VERB")
    new = verbs.add_parser(
        "new", help="print a new random KEK (for ISSUER_KEY_ENCRYPTION_KEY); changes nothing"
    )
    new.add_argument("--json", action="store_true", help='print {"kek": ...}')
    new.set_defaults(handler=run_new, needs_settings=False)
    rotate = verbs.add_parser(
        "rotate",
        help="re-seal every stored key under ISSUER_KEY_ENCRYPTION_KEY, opening them with "
        "it or ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY (see README: Changing the KEK)",
    )
    rotate.add_argument("--json", action="store_true", help="print the result as JSON")
    rotate.set_defaults(handler=run_rotate)


def run_new(_settings: object, args: argparse.Namespace) -> int:
    from issuer.keys.kek import new_kek_text

    text = new_kek_text()
    print(json.dumps({"kek": text}) if args.json else text)
    return 0


def run_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.cli.context import services_for
    from issuer.keys.kek_check import rekey

    with services_for(settings) as services:
        result = rekey(services.sessions, services.kek, services.clock())
        source = services.kek.source
    view = {
        "rotated": not result.already_current,
        "signing_keys_resealed": result.signing_keys,
        "sealed_under": source,
    }
    if args.json:
        print(json.dumps(view, indent=2))
    elif result.already_current:
        print(f"nothing to re-seal: every stored key is sealed under {source}")
    else:
        print(
            f"re-sealed {result.signing_keys} signing key(s), the client-secret key and the "
            f"KEK check value under {source}; ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY can go"
        )
    return 0
