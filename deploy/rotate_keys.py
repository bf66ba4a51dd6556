"""Scheduled key rotation (serverless.yml: `schedule: rate(1 day)`).

Runs the same code path as `issuer keys rotate --if-due` (the issuer's CLI owns the
rule: publish the next key before it signs, retire the old one only after every token
it signed has expired plus the verifiers' cache horizon), so a human and the schedule
can never disagree on what "due" means. A non-zero exit raises, so the invocation is
recorded as failed and the schedule's alarms see it.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def handler(event, context):
    from deploy.lambda_runtime import export_secrets
    from issuer.cli import main  # imported per call: the CLI is only needed here

    export_secrets()  # on AWS: the database URL and KEK from Secrets Manager

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["keys", "rotate", "--if-due", "--json"])
    sys.stderr.write(err.getvalue())  # still in the function's log
    if code not in (0, None):
        # The CLI's one-line reason (a wrong KEK, the database down) goes into the error.
        reason = (err.getvalue() or out.getvalue()).strip()[-500:]
        raise RuntimeError(f"issuer keys rotate --if-due exited {code}: {reason}")
    text = out.getvalue().strip()
    try:
        return json.loads(text) if text else {"rotated": False}
    except ValueError:
        return {"output": text[-500:]}
