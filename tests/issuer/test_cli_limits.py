"""The CLI's pages are bounded as the admin API's (`issuer.store.paging.MAX_LIMIT`):
one limit for one listing, whichever way an operator asks for it."""

from __future__ import annotations

import json

import pytest

from issuer.cli import main
from issuer.store.paging import MAX_LIMIT

LISTINGS = [["audit", "--json"], ["clients", "list", "--json"]]


@pytest.mark.parametrize("argv", LISTINGS, ids=["audit", "clients-list"])
def test_a_limit_past_the_api_maximum_is_refused(admin_cli_env, capsys, argv):
    assert MAX_LIMIT == 100
    capsys.readouterr()
    code = main([*argv, "--limit", str(MAX_LIMIT + 1)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--limit must be 1 to {MAX_LIMIT}" in err


@pytest.mark.parametrize("argv", LISTINGS, ids=["audit", "clients-list"])
def test_the_api_maximum_is_accepted(admin_cli_env, capsys, argv):
    capsys.readouterr()
    assert main([*argv, "--limit", str(MAX_LIMIT)]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
