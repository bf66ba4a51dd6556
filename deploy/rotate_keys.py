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


def handler(event, context):
    from deploy.lambda_runtime import export_secrets
    from issuer.cli import main  # imported per call: the CLI is only needed here

    export_secrets()  # on AWS: the database URL and KEK from Secrets Manager

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["keys", "rotate", "--if-due", "--json"])
    if code not in (0, None):
        raise RuntimeError(f"issuer keys rotate --if-due exited {code}: {out.getvalue()[-500:]}")
    text = out.getvalue().strip()
    try:
        return json.loads(text) if text else {"rotated": False}
    except ValueError:
        return {"output": text[-500:]}
