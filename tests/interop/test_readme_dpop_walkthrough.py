"""The README's DPoP walkthrough ("a token a thief cannot use"), run as written.

An issuer is started as `make run` starts it (`issuer serve` on SQLite, http on
loopback); the section's commands then run in one bash, unchanged but for the ports and
the state directory (free ones here, so the test runs beside a developer's `make run`).
Each command with a `# NNN` comment is run with curl's status code printed, and the
statuses must be exactly the ones the README promises.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.procs import REPO, free_port, running, wait_http

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                       reason="the walkthrough is curl commands in bash"),
]

HEADING = "## Walkthrough: a token a thief cannot use (DPoP)"
EXPECT = re.compile(r"\s+#\s+(\d{3})\b.*$")


def walkthrough() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_section_has_the_promised_refusals():
    expected = [int(m.group(1)) for line in walkthrough() if (m := EXPECT.search(line))]
    assert expected == [400, 200, 401, 401, 200, 401, 401]
    gateway = next(line for line in walkthrough() if " gateway " in line)
    assert "--cache-ttl 0" in gateway  # bound tokens: no result cache (docs/caching.md)


def test_readme_dpop_walkthrough(tmp_path):
    ports = {"8000": str(free_port()), "8081": str(free_port()), "8090": str(free_port())}
    state = tmp_path / "state"
    state.mkdir()

    def adapt(line: str) -> str:
        for old, new in ports.items():
            line = line.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}").replace(
                f"--port {old}", f"--port {new}")
        return line.replace(".tollgate/", f"{state}/")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "AUTHORIZER_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    issuer_env = {
        **env,
        "ISSUER_URL": f"http://127.0.0.1:{ports['8000']}",
        "ISSUER_DATABASE_URL": f"sqlite:///{state}/issuer.db",
        "ISSUER_KEK_FILE": f"{state}/kek",
        "POLICY_FILE": str(REPO / "shared" / "example_policy.toml"),
    }
    script = ["set -u", "checks=()"]
    expected = []
    for line in walkthrough():
        command = adapt(line)
        match = EXPECT.search(command)
        if match is None:
            script.append(command)
            if " gateway " in command:  # a person waits a second; the script polls
                script.append(
                    f"for i in $(seq 100); do curl -s -o /dev/null "
                    f"http://127.0.0.1:{ports['8081']}/ && break; sleep 0.1; done")
            continue
        expected.append(int(match.group(1)))
        command = EXPECT.sub("", command)
        assert command.startswith("curl -i ")
        script.append("echo STATUS $(" + command.replace(
            "curl -i ", "curl -s -o /dev/null -w '%{http_code}' ", 1) + ")")
    script.append("kill %1 %2")
    log = tmp_path / "issuer.log"
    argv = [sys.executable, "-m", "issuer.cli", "serve", "--port", ports["8000"]]
    with running(argv, env=issuer_env, cwd=tmp_path, log=log) as issuer:
        wait_http(f"http://127.0.0.1:{ports['8000']}/healthz", proc=issuer, log=log,
                  ok=lambda status: status == 200)
        done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=180, check=False)
    statuses = [int(line.split()[1]) for line in done.stdout.splitlines()
                if line.startswith("STATUS ")]
    assert statuses == expected == [400, 200, 401, 401, 200, 401, 401], done.stderr
