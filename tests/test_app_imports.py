"""The API process starts without torch: importing it costs about 2 s and a few hundred MB, and only the
processes that run a model need it (a lip-sync planner that imported the model module pulled it in)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import sys
    from videoapi.app import create_app
    from videoapi.settings import load_settings
    app = create_app(load_settings(environ={"VIDEOAPI_SERVER__VAR_DIR": sys.argv[1]}))
    app.openapi_schema.to_schema()
    print(sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules))
    """
)


def test_building_the_app_imports_no_torch(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
