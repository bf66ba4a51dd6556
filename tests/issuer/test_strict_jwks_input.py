"""The issuer's JWKS inputs are read as strictly as tokens (issue 12, item 14): the CLI's
`--jwks-file` refuses duplicate member names (last-wins would register keys the operator
did not read), NaN/Infinity and non-UTF-8, in one line, exit 2, writing nothing."""

from __future__ import annotations

import json

import pytest
from helpers.mint import make_key

from issuer.cli import main

KEY = make_key("ES256", kid="k-good")[1]
OTHER = make_key("ES256", kid="k-other")[1]
GOOD = json.dumps({"keys": [KEY]})

REFUSED = {
    "duplicate-keys": GOOD[:-1] + ', "keys": ' + json.dumps([OTHER]) + "}",
    "duplicate-in-a-key": GOOD.replace('"kid": "k-good"', '"kid": "k-good", "kid": "k-x"'),
    "nan": GOOD[:-1] + ', "n": NaN}',
    "utf-16": GOOD,
}


@pytest.mark.parametrize("case", REFUSED)
def test_cli_jwks_file_is_read_strictly(admin_cli_env, capsys, case):
    tmp_path = admin_cli_env
    path = tmp_path / "keys.json"
    if case == "utf-16":
        path.write_bytes(GOOD.encode("utf-16"))
    else:
        assert REFUSED[case] != GOOD
        path.write_text(REFUSED[case])
    capsys.readouterr()
    assert main(["clients", "create", "--name", "s", "--scope", "orders:read",
                 "--auth-method", "private_key_jwt", "--jwks-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"issuer: --jwks-file {path}: not a JSON JWK Set\n"
    assert main(["clients", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []  # nothing registered


def test_cli_jwks_file_control(admin_cli_env, capsys):
    path = admin_cli_env / "keys.json"
    path.write_text(GOOD)
    assert main(["clients", "create", "--name", "s", "--scope", "orders:read",
                 "--auth-method", "private_key_jwt", "--jwks-file", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jwks"]["keys"][0]["kid"] == "k-good"
