"""Build the Lambda deployment packages serverless.yml deploys, without AWS.

    python -m deploy.build_artifacts --stage prod --policy policies/prod.toml \
        [--jwks build/jwks.json] [--arch arm64|x86_64] [--out build/artifacts]

Each function's zip holds its code and its third-party dependencies (Linux wheels for
Python 3.12 and the chosen architecture, at the versions pinned in requirements.lock,
from PyPI): no Lambda layer. osls compares a layer with the deployed stack's outputs
while packaging (a CloudFormation call), so layers would make `osls package` need AWS
credentials; a function's `package.artifact` does not.

    authorizer.zip  authorizer/ (no gateway.py, cli.py), shared/, policy.toml,
                    [jwks.json], cryptography and its cffi
    issuer.zip      deploy/ Lambda entries, issuer/, shared/, migrations/, policy.toml,
                    the issuer's runtime dependencies (no AWS SDK: deploy/aws_api.py)
    orders.zip      deploy/protected_lambda.py (stdlib only)

Every module in them comes with its CPython 3.12 bytecode (`with_bytecode`): the
function's /var/task is read-only, so a cold start would otherwise compile each module
it imports from source, every time.

The operator's policy is packaged as `policy.toml` at the task root, where both halves
read it (POLICY_FILE=policy.toml). A production stage (any stage but `offline`) refuses
the example policy: production never ships it by default.

Without `--jwks` the authorizer is packaged with no key file and fetches the issuer's
JWKS at its first token (it has no VPC, so it reaches the issuer's public URL); this is
printed as a warning, never silent. `manifest.json` tells serverless.yml what was built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_POLICY = REPO / "shared" / "example_policy.toml"
DEVELOPMENT_STAGES = frozenset({"offline"})
PYTHON_VERSION = "3.12"  # serverless.yml provider.runtime
# Which wheels load on the function. The python3.12 runtime's operating system is Amazon
# Linux 2023 (the runtime table in "Building Lambda functions with Python",
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html), whose C library is
# glibc 2.34 ("Core toolchain packages glibc, gcc, binutils",
# https://docs.aws.amazon.com/linux/al2023/ug/core-glibc.html). A manylinux_2_X wheel
# needs glibc 2.X or newer (PEP 600; manylinux2014 is manylinux_2_17, PEP 599), so every
# tag up to 2_34 loads there. 2_28 is not optional: psycopg-binary 3.3 publishes its
# aarch64 wheels as manylinux_2_28 only. AWS's own recipe for a package with compiled
# dependencies is this one, pip with `--platform` and `--only-binary=:all:` for the
# function's architecture ("Working with .zip file archives for Python Lambda
# functions", https://docs.aws.amazon.com/lambda/latest/dg/python-package.html). Python
# 3.11 and older runtimes are Amazon Linux 2 (glibc 2.26), where 2_28 would not load:
# tests/e2e/test_serverless_package.py checks the runtime and every packaged wheel's tag.
MAX_GLIBC = (2, 34)
PLATFORMS = {
    arch: [f"manylinux{tag}_{machine}" for tag in ("2014", "_2_28", "_{}_{}".format(*MAX_GLIBC))]
    for arch, machine in (("arm64", "aarch64"), ("x86_64", "x86_64"))
}
# Runtime closures (requirements.lock pins the versions). No AWS SDK: the one AWS call,
# Secrets Manager's GetSecretValue, is signed by deploy/aws_api.py with the stdlib.
AUTHORIZER_DEPS = ("cryptography",)
ISSUER_DEPS = ("PyJWT", "cryptography", "fastapi", "python-multipart", "SQLAlchemy",
               "alembic", "psycopg[binary]", "mangum")
ISSUER_DEPLOY_FILES = ("deploy/__init__.py", "deploy/issuer_lambda.py",
                       "deploy/rotate_keys.py", "deploy/ops_lambda.py", "deploy/aws_secrets.py",
                       "deploy/aws_api.py", "deploy/sigv4.py", "deploy/lambda_runtime.py")
# Fixed zip timestamps: the same inputs give the same bytes, so an unchanged function
# keeps its CodeSha256 and is not redeployed.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    pass


def is_production(stage: str) -> bool:
    return stage not in DEVELOPMENT_STAGES


def check_policy(stage: str, policy: Path | None) -> tuple[Path, tuple[str, ...]]:
    """The policy to package and the audiences it declares."""
    if policy is None:
        if is_production(stage):
            raise BuildError(
                f"stage {stage!r} is a production stage: POLICY_FILE=path is required "
                "(the example policy is never shipped to production)"
            )
        policy = EXAMPLE_POLICY
    if not policy.is_file():
        raise BuildError(f"POLICY_FILE {policy} does not exist")
    if is_production(stage) and _same_bytes(policy, EXAMPLE_POLICY):
        raise BuildError(
            f"stage {stage!r} is a production stage and {policy} is the example policy: "
            "write your own (docs/policy.md) and pass it as POLICY_FILE=path"
        )
    from shared.policy import PolicyError, load_policy

    try:
        loaded = load_policy(policy)
    except PolicyError as exc:
        raise BuildError(f"POLICY_FILE {policy}: {exc}") from None
    return policy, tuple(api.audience for api in loaded.apis.values())


def _same_bytes(a: Path, b: Path) -> bool:
    return hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def check_jwks(path: Path | None) -> Path | None:
    if path is None:
        return None
    from deploy.bundle_jwks import BundleError, checked

    try:
        checked(json.loads(path.read_text()))
    except (OSError, ValueError, BundleError) as exc:
        raise BuildError(f"JWKS {path}: {exc}") from None
    return path


def constraints_file(tmp: Path) -> Path:
    """requirements.lock without its hashes: the pins, usable as pip constraints."""
    lines = []
    for raw in (REPO / "requirements.lock").read_text().splitlines():
        line = raw.rstrip().removesuffix("\\").strip()
        if not line or line.startswith(("#", "--hash")):
            continue
        lines.append(line)
    out = tmp / "constraints.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def vendor(name: str, requirements: tuple[str, ...], arch: str, deps_root: Path,
           python: str = PYTHON_VERSION) -> Path:
    """pip-installs Linux wheels for `arch` into deps_root/<arch>-<python>/<name>, once
    per lock."""
    target = deps_root / f"{arch}-{python}" / name
    lock = (REPO / "requirements.lock").read_bytes()
    stamp_value = hashlib.sha256(lock + repr((requirements, arch, python)).encode()).hexdigest()
    stamp = target / ".stamp"
    if stamp.is_file() and stamp.read_text() == stamp_value:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(target),
            *(arg for platform in PLATFORMS[arch] for arg in ("--platform", platform)),
            "--implementation", "cp", "--python-version", python,
            "--only-binary=:all:", "-c", str(constraints_file(Path(tmp))), *requirements,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise BuildError(f"pip could not vendor {name} for {arch}: {done.stderr.strip()[-800:]}")
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    stamp.write_text(stamp_value)
    return target


def _tree(root: Path, prefix: str = "", skip: tuple[str, ...] = ()) -> list[tuple[Path, str]]:
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if (not path.is_file() or "__pycache__" in rel or rel.endswith(".pyc")
                or rel == ".stamp" or rel in skip):
            continue
        files.append((path, prefix + rel))
    return files


def _source(*names: str, skip: tuple[str, ...] = ()) -> list[tuple[Path, str]]:
    files = []
    for name in names:
        path = REPO / name
        if path.is_dir():
            files += _tree(path, name + "/", skip)
        else:
            files.append((path, name))
    return files


def with_bytecode(packages: dict[str, list[tuple[Path, str]]], python: str, work: Path
                  ) -> dict[str, list[tuple[Path, str]]]:
    """Each package's files staged under `work/<package>`, with each .py's bytecode for
    CPython `python` beside it (`__pycache__/NAME.cpython-3NN.pyc`, hash-based and
    unchecked: PEP 552). /var/task is read-only, so without them every cold start
    compiles every module it imports and keeps nothing. The runtime's 3.12 is compiled by
    Pyodide under Node (deploy/compile_bytecode.mjs: this machine's Python is not 3.12),
    once for all the packages; the interpreter running this build compiles for its own
    version (tests run such zips)."""
    for package, files in packages.items():
        for path, name in files:
            staged = work / package / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staged)
    if python == f"{sys.version_info.major}.{sys.version_info.minor}":
        import compileall
        import py_compile

        ok = compileall.compile_dir(
            str(work), quiet=1,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        if not ok:
            raise BuildError(f"some packaged files did not compile for Python {python}")
    elif python == PYTHON_VERSION:
        node = shutil.which("node")
        if node is None:
            raise BuildError("node is needed to compile the packages' bytecode for Python "
                             f"{python}: install Node.js 20, then `npm ci`")
        done = subprocess.run([node, str(REPO / "deploy" / "compile_bytecode.mjs"), str(work)],
                              cwd=REPO, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"compiling bytecode for Python {python} failed "
                             f"(run `npm ci` first?): {done.stderr.strip()[-800:]}")
    else:
        raise BuildError(f"no compiler for Python {python}: build for {PYTHON_VERSION} "
                         "(the runtime) or for the Python running this build")
    return {package: [(path, path.relative_to(work / package).as_posix())
                      for path in sorted((work / package).rglob("*")) if path.is_file()]
            for package in packages}


def write_zip(out: Path, files: list[tuple[Path, str]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for path, name in sorted(files, key=lambda f: f[1]):
            if name in seen:
                raise BuildError(f"{out.name}: {name} twice")
            seen.add(name)
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.external_attr = (0o644 & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    os.replace(tmp, out)


def build(stage: str, policy: Path | None, jwks: Path | None, arch: str, out: Path,
          deps_root: Path, log=print, python: str = PYTHON_VERSION) -> dict:
    policy, audiences = check_policy(stage, policy)
    jwks = check_jwks(jwks)
    # The example policy stays in shared/ only where a development stage may use it.
    shared_skip = ("example_policy.toml",) if is_production(stage) else ()
    policy_file = [(policy, "policy.toml")]

    authorizer = _source("authorizer", skip=("gateway.py", "cli.py"))
    authorizer += _source("shared", skip=shared_skip) + policy_file
    if jwks is not None:
        authorizer.append((jwks, "jwks.json"))
    else:
        log("WARNING: no JWKS bundled (JWKS=path not given): the authorizer fetches "
            "<issuer>/.well-known/jwks.json at its first token. Bundle one with "
            "`python -m deploy.bundle_jwks` to verify at cold start without a fetch.")
    authorizer += _tree(vendor("authorizer", AUTHORIZER_DEPS, arch, deps_root, python))

    issuer = _source(*ISSUER_DEPLOY_FILES) + _source("issuer", "migrations")
    issuer += _source("shared", skip=shared_skip) + policy_file
    issuer += _tree(vendor("issuer", ISSUER_DEPS, arch, deps_root, python))

    orders = _source("deploy/__init__.py", "deploy/protected_lambda.py")
    packages = {"authorizer": authorizer, "issuer": issuer, "orders": orders}
    with tempfile.TemporaryDirectory(prefix="tollgate-package-") as tmp:
        for name, files in with_bytecode(packages, python, Path(tmp)).items():
            write_zip(out / f"{name}.zip", files)

    manifest = {
        "stage": stage,
        "architecture": arch,
        "python": python,
        "issuerEnv": "production" if is_production(stage) else "development",
        "audiences": ",".join(audiences),
        "policySha256": hashlib.sha256(policy.read_bytes()).hexdigest(),
        "jwksFile": "jwks.json" if jwks is not None else "",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for name in ("authorizer.zip", "issuer.zip", "orders.zip"):
        log(f"built {out / name}: {(out / name).stat().st_size // 1024} KiB")
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.build_artifacts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", default="prod")
    p.add_argument("--policy", type=Path, default=None, help="the operator's policy file")
    p.add_argument("--jwks", type=Path, default=None, help="a JWKS to bundle (bundle_jwks)")
    p.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    p.add_argument("--out", type=Path, default=REPO / "build" / "artifacts")
    p.add_argument("--deps", type=Path, default=REPO / "build" / "deps")
    p.add_argument("--python-version", default=PYTHON_VERSION,
                   help="wheels for this CPython (tests: the interpreter that runs the zip)")
    args = p.parse_args(argv)
    try:
        build(args.stage, args.policy, args.jwks, args.arch, args.out, args.deps,
              python=args.python_version)
    except BuildError as exc:
        print(f"build_artifacts: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
