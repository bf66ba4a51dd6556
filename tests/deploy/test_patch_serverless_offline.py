"""deploy/patch_serverless_offline.py: serverless-offline's Python runner taught to return
a raised exception as the Lambda runtime does. An emulator fix, not a product change: the
offline stage runs the production handler `authorizer.handler.handler` itself.

- The patch applies to the plugin code it knows, once: run again it changes nothing (it
  runs after every `npm ci`, from make and deploy/install_offline.sh).
- Code it does not know is refused loudly, untouched (a plugin upgrade must be looked at).
- serverless.yml names the same handler for every stage; no wrapper module exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy import patch_serverless_offline as patch

REPO = Path(__file__).resolve().parents[2]
INSTALLED = REPO / patch.RUNNER.relative_to(patch.ROOT)


@pytest.fixture
def installed() -> Path:
    """The patched runner make installed; these tests run in the serverless leg (`make
    test-serverless` installs node_modules first) and skip, saying so, without it."""
    if not INSTALLED.exists():
        pytest.skip("node_modules has no serverless-offline: run `bash deploy/install_offline.sh`")
    return INSTALLED


@pytest.fixture
def pristine(tmp_path, installed) -> Path:
    """The runner's two files as npm installs them: the installed (patched) copies with
    the patch taken back out, which must give the code the patch expects."""
    runner = tmp_path / "python-runner"
    runner.mkdir()
    for name, (old, new) in patch.patches(runner).items():
        text = (INSTALLED / name.name).read_text()
        assert text.count(new) == 1, f"{name.name}: the installed plugin is not patched"
        name.write_text(text.replace(new, old))
    return runner


def snapshot(runner: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(runner.iterdir())}


@pytest.mark.serverless
def test_the_patch_applies_once_and_is_idempotent(pristine):
    before = snapshot(pristine)
    assert all(patch.MARK.encode() not in text for text in before.values())
    assert patch.apply(pristine) == sorted(patch.patches(pristine))
    once = snapshot(pristine)
    assert all(patch.MARK.encode() in text for text in once.values())
    assert once != before
    assert patch.apply(pristine) == []  # the second run: nothing to do
    assert snapshot(pristine) == once
    # Same bytes as the copy make installed (node_modules/.installed).
    assert once == {name: (INSTALLED / name).read_bytes() for name in once}


@pytest.mark.serverless
def test_unknown_plugin_code_is_refused_and_left_untouched(pristine):
    invoke = pristine / "invoke.py"
    invoke.write_text(invoke.read_text().replace("result = handler(", "result = other("))
    before = snapshot(pristine)
    with pytest.raises(patch.UnknownPluginCode, match=r"invoke\.py is not the code"):
        patch.apply(pristine)
    assert snapshot(pristine) == before


@pytest.mark.serverless
def test_main_reports_unknown_code_in_one_line(pristine, capsys, monkeypatch):
    (pristine / "PythonRunner.js").write_text("// another version\n")
    monkeypatch.setattr(patch, "RUNNER", pristine)
    assert patch.main() == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PythonRunner.js is not the code this patch knows" in err


@pytest.mark.serverless
def test_the_patched_runner_returns_the_exception_as_lambda_does(installed):
    # What the patch makes invoke.py do: catch, write the error response, keep serving.
    text = (installed / "invoke.py").read_text()
    assert "'errorMessage': str(e), 'errorType': type(e).__name__" in text
    assert "continue\n" in text.split(patch.MARK, 1)[1]


def test_every_stage_runs_the_production_authorizer_handler_unwrapped():
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda *_: None)  # CloudFormation short forms
    config = yaml.load((REPO / "serverless.yml").read_text(), Loader=loader)  # noqa: S506
    authorizer = config["functions"]["authorizer"]
    assert authorizer["handler"] == "authorizer.handler.handler"  # no ${...}: every stage
    # Offline packages nothing: serverless-offline runs the working tree's module.
    assert config["custom"]["pkg"]["offline"]["authorizer"] == {}
    # No wrapper exists to be switched to.
    assert not list((REPO / "deploy").glob("*offline*handler*"))
    assert not list((REPO / "authorizer").glob("*offline*"))
