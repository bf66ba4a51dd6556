"""Make serverless-offline's Python runner report a handler's exception the way the
Lambda runtime does: as an invocation error carrying `errorMessage`.

serverless-offline 14's `invoke.py` lets an exception end its read loop, so the request
hangs until the function timeout and every later invocation of that function hangs too
(the runner process is gone). Lambda instead returns an error response whose
`errorMessage` API Gateway reads: "Unauthorized" from a REST authorizer is its
documented 401. With this patch the runner sends the error back and the plugin's
authorizer code does what API Gateway does with it (its catch answers 401), so the
offline stage runs `authorizer.handler.handler` itself, no wrapper.

Run after `npm ci` (make's node_modules/.installed, deploy/install_offline.sh);
idempotent; fails loudly when the plugin's code is not the one this patch knows.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "node_modules/serverless-offline/src/lambda/handler-runner/python-runner"
MARK = "tollgate: the Lambda runtime's error response"


class UnknownPluginCode(Exception):
    """The plugin's file is neither the code this patch knows nor already patched."""


def patches(runner: Path) -> dict[Path, tuple[str, str]]:
    """The runner's files and, for each, the one piece of code replaced and its
    replacement."""
    return {
        runner / "invoke.py": (
            "        result = handler(input['event'], context)\n",
            "        try:\n"
            "            result = handler(input['event'], context)\n"
            f"        except Exception as e:  # {MARK}\n"
            "            sys.stdout.write(json.dumps({'__offline_error__': {\n"
            "                'errorMessage': str(e), 'errorType': type(e).__name__}}) + '\\n')\n"
            "            sys.stdout.flush()\n"
            "            continue\n",
        ),
        runner / "PythonRunner.js": (
            "    for (const item of value.split(EOL)) {\n"
            "      let json\n",
            "    for (const item of value.split(EOL)) {\n"
            "      let json\n"
            f"      // {MARK}: a raised exception rejects the invocation.\n"
            "      if (item.includes('\"__offline_error__\"')) {\n"
            "        const { errorMessage, errorType } = parse(item).__offline_error__\n"
            "        const error = new Error(errorMessage)\n"
            "        error.name = errorType\n"
            "        throw error\n"
            "      }\n",
        ),
    }


def apply(runner: Path = RUNNER) -> list[Path]:
    """Patch what is not patched yet; the files changed, sorted (none on a second run).
    Every file is checked before any is written: unknown code changes nothing."""
    todo = []
    for path, (old, new) in sorted(patches(runner).items()):
        text = path.read_text()
        if MARK in text:
            continue
        if text.count(old) != 1:
            raise UnknownPluginCode(f"{path.name} is not the code this patch knows")
        todo.append((path, text.replace(old, new)))
    for path, text in todo:
        path.write_text(text)
    return [path for path, _ in todo]


def main() -> int:
    try:
        changed = apply(RUNNER)
    except UnknownPluginCode as exc:
        print(f"patch_serverless_offline: {exc} (in {RUNNER})", file=sys.stderr)
        return 1
    for path in changed:
        print(f"patch_serverless_offline: patched {path.name} in {RUNNER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
