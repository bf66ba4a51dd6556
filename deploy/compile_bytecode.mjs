// Compiles every .py file under a directory to CPython 3.12 bytecode, next to it in
// __pycache__/NAME.cpython-312.pyc, for the Lambda python3.12 runtime.
//
//     node deploy/compile_bytecode.mjs DIR
//
// Why: a Lambda package is unpacked to /var/task, which is read-only, so a package with
// no .pyc files has every module (FastAPI, pydantic, SQLAlchemy, the issuer's own)
// compiled from source at every cold start, and the result thrown away. The compiler
// must be the runtime's minor version (bytecode and its magic number change with it),
// and this machine's Python is not 3.12: Pyodide is CPython 3.12 built for WebAssembly,
// from the npm registry, whose compileall writes what CPython 3.12 on Linux reads
// (bytecode does not depend on the platform).
//
// Hash-based, unchecked .pyc files (PEP 552): the interpreter uses them without looking
// at the source's timestamp or hash. The package's sources never change once built, and
// its timestamps are all the fixed date of deploy/build_artifacts.py's zips, so a
// timestamp-based .pyc would be checked against nothing meaningful.
import { loadPyodide } from "pyodide";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node deploy/compile_bytecode.mjs DIR");
  process.exit(2);
}
const pyodide = await loadPyodide();
pyodide.FS.mkdirTree("/package");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: dir }, "/package");
const result = pyodide.runPython(`
import compileall, json, py_compile, sys
ok = compileall.compile_dir(
    "/package", quiet=1, workers=1,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
json.dumps({"ok": bool(ok), "version": list(sys.version_info[:2])})
`);
const { ok, version } = JSON.parse(result);
if (!ok) {
  console.error(`compile_bytecode: some files of ${dir} did not compile`);
  process.exit(1);
}
console.log(`compiled ${dir} with CPython ${version.join(".")} (Pyodide)`);
