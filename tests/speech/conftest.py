"""The app of the speech tests: one per test module (it loads the bundled ASR model once), in place of
the function-scoped `api` of tests/conftest.py."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.support.app import Api, running_app
from videoapi.settings import load_settings


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    var = tmp_path_factory.mktemp("speech-app") / "var"
    settings = load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(var),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
            "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
            "VIDEOAPI_LIMITS__FETCH_ALLOW_CIDRS": '["127.0.0.1/32"]',
            # The model's work is what is measured; scanning frames of a grey picture is not.
            "VIDEOAPI_MODERATION__SCAN_OUTPUTS": "false",
        }
    )
    with running_app(settings) as api:
        yield api
    # Collect the module's garbage now: otherwise a later test's ast.parse (tests/test_errors_catalogue.py)
    # failed under CPython 3.11.7 with "SystemError: AST constructor recursion depth mismatch", a
    # collection with finalizers running inside the AST constructor.
    gc.collect()
