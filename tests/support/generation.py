"""Settings for the generation tests: the embedded shape on CPU with a given model registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.app import toml_value
from videoapi.settings import Settings, load_settings


def gen_settings(var_dir: Path, registry_file: Path, **overrides: Any) -> Settings:
    env = {
        "VIDEOAPI_SERVER__VAR_DIR": str(var_dir),
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
        "VIDEOAPI_TASKS__RECONCILE_INTERVAL_S": "0.5",
        "VIDEOAPI_TASKS__HEARTBEAT_S": "0.1",
        "VIDEOAPI_GENERATION__MODELS_FILE": str(registry_file),
        "VIDEOAPI_GENERATION__DEVICE": "cpu",
        "VIDEOAPI_GENERATION__MAX_LOADED_MODELS": "3",
        # The tests poll fast; the gateway's per-key rate limit is not what they are about.
        "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "100000",
        "VIDEOAPI_GATEWAY__DEFAULT_BURST": "100000",
    }
    for dotted, value in overrides.items():
        env["VIDEOAPI_" + dotted.upper().replace(".", "__")] = toml_value(value)
    return load_settings(environ=env)
