"""Write sdk/js/src/openapi.ts from the served OpenAPI and rebuild sdk/js/dist (tests/sdk/test_js_sdk.py checks both).

openapi-typescript and tsc come from sdk/js/node_modules (`make install` runs `npm ci` there). dist/ is
committed so that `npm install ./sdk/js` needs no build step.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.gen_sdk_models import served_openapi

SDK = Path(__file__).resolve().parents[1] / "sdk" / "js"
BIN = SDK / "node_modules" / ".bin"
# A field with a server default stays optional in a request; each schema is also exported by its own
# name (`TrimRequest`, `TaskOut`...), not only as `components["schemas"][...]`.
FLAGS = ["--default-non-nullable", "false", "--root-types", "--root-types-no-schema-prefix"]


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `npm ci` in {SDK} (make install does)")
    return str(path)


def write_types(out: Path) -> None:
    """The OpenAPI of an app on throwaway settings, as openapi-typescript's `paths` and `components`."""
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "openapi.json"
        doc.write_text(json.dumps(served_openapi(), indent=1, sort_keys=True))
        subprocess.run([_tool("openapi-typescript"), str(doc), "-o", str(out), "--silent", *FLAGS], check=True, cwd=SDK)


def build(out_dir: Path) -> None:
    """Compile sdk/js/src with the package's tsconfig into `out_dir`."""
    subprocess.run([_tool("tsc"), "-p", str(SDK / "tsconfig.json"), "--outDir", str(out_dir)], check=True, cwd=SDK)


if __name__ == "__main__":
    write_types(SDK / "src" / "openapi.ts")
    shutil.rmtree(SDK / "dist", ignore_errors=True)
    build(SDK / "dist")
    print(f"wrote {SDK / 'src' / 'openapi.ts'} and {SDK / 'dist'}")
