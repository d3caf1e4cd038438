"""Who may call what: JWTs (HS256, RS256 PEM, ES256 JWKS file and URL), scopes, IP allowlists, trusted proxies."""

from __future__ import annotations

import http.server
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.app import Api, assert_problem, free_port, running_app, serve_in_thread, with_services
from tests.support.gateway import make_key, serve
from videoapi.gateway.clientip import client_ip, parse_networks
from videoapi.settings import Settings

SECRET = "s3cret-for-hs256-tokens-0123456789abcdef"
TRIM = {"input": {"url": "https://example.invalid/a.mp4"}, "start_s": 0, "end_s": 1}


def token(claims: dict[str, Any] | None = None, key: Any = SECRET, alg: str = "HS256", **headers: Any) -> str:
    body = {"sub": "user-1", "exp": int(time.time()) + 300, "scope": "read edit", **(claims or {})}
    return jwt.encode(body, key, algorithm=alg, headers=headers or None)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def jwt_api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    settings = make_settings(
        **{"auth.jwt_secret": SECRET, "auth.jwt_issuer": "https://id.example", "auth.jwt_audience": "videoapi"}
    )
    with running_app(settings) as api:
        yield api


def good(**claims: Any) -> str:
    return token({"iss": "https://id.example", "aud": "videoapi", **claims})


def test_hs256_token_names_the_owner_by_sub(jwt_api: Api) -> None:
    created = jwt_api.client.post("/v1/video/edit/trim", json=TRIM, headers=bearer(good()))
    assert created.status_code == 202, created.text
    task_id = created.json()["id"]
    # Another token for the same subject sees the task; another subject does not.
    assert jwt_api.client.get(f"/v1/video/tasks/{task_id}", headers=bearer(good(jti="x"))).status_code == 200
    assert_problem(jwt_api.client.get(f"/v1/video/tasks/{task_id}", headers=bearer(good(sub="user-2"))), 404)
    # An API key is a different owner too.
    assert_problem(jwt_api.get(f"/v1/video/tasks/{task_id}"), 404)


def test_a_token_whose_sub_is_an_api_key_id_cannot_see_that_keys_tasks(jwt_api: Api) -> None:
    created = jwt_api.post("/v1/video/edit/trim", json=TRIM)
    assert created.status_code == 202, created.text
    key_id = key_id_of(jwt_api)
    impostor = bearer(good(sub=key_id))
    assert_problem(jwt_api.client.get(f"/v1/video/tasks/{created.json()['id']}", headers=impostor), 404)
    assert jwt_api.client.get("/v1/video/tasks", headers=impostor).json()["items"] == []
    # Nor the other way round: the key does not see what the token creates.
    mine = jwt_api.client.post("/v1/video/edit/trim", json=TRIM, headers=impostor).json()
    assert_problem(jwt_api.get(f"/v1/video/tasks/{mine['id']}"), 404)


def test_issuer_and_subject_never_run_together(make_settings: Callable[..., Settings], pg_url: str) -> None:
    """`iss` "a:b" + `sub` "c" is not `iss` "a" + `sub` "b:c"; a long pair still fits the owner columns."""
    with running_app(make_settings(**{"auth.jwt_secret": SECRET, "database.url": pg_url})) as api:
        long_iss = "https://login.example.com/realms/" + "r" * 40
        pairs = [("a:b", "c"), ("a", "b:c"), (long_iss, "u" * 64), (long_iss, "u" * 63 + "v")]
        ids = []
        for iss, sub in pairs:
            resp = api.client.post("/v1/video/edit/trim", json=TRIM, headers=bearer(token({"iss": iss, "sub": sub})))
            assert resp.status_code == 202, resp.text
            ids.append(resp.json()["id"])
        for (iss, sub), own in zip(pairs, ids, strict=True):
            listed = api.client.get("/v1/video/tasks", headers=bearer(token({"iss": iss, "sub": sub}))).json()
            assert [t["id"] for t in listed["items"]] == [own]


def key_id_of(api: Api) -> str:
    async def run(services: Any) -> str:
        return (await services.keys.authenticate(api.key)).id

    return with_services(api.settings, run)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (lambda: good(exp=int(time.time()) - 120), "expired"),
        (lambda: good(iss="https://evil.example"), "issuer"),
        (lambda: good(aud="someone-else"), "audience"),
        (
            lambda: token({"iss": "https://id.example", "aud": "videoapi"}, key="wrong-secret-wrong-secret-0123456789"),
            "invalid",
        ),
        (lambda: jwt.encode({"sub": "user-1", "exp": int(time.time()) + 60}, None, algorithm="none"), "not accepted"),
        (lambda: good(sub=None), "sub"),
        (lambda: "a.b.c", "well-formed"),
    ],
)
def test_bad_tokens_are_401(jwt_api: Api, bad: Callable[[], str], why: str) -> None:
    body = assert_problem(jwt_api.client.get("/v1/video/tasks", headers=bearer(bad())), 401, "invalid_token")
    assert why in body["detail"]


def test_clock_skew_within_leeway_is_accepted(jwt_api: Api) -> None:
    # Expired 10 s ago, within the default 30 s leeway.
    resp = jwt_api.client.get("/v1/video/tasks", headers=bearer(good(exp=int(time.time()) - 10)))
    assert resp.status_code == 200, resp.text


def test_token_scopes_limit_routes(jwt_api: Api) -> None:
    read_only = bearer(good(scope="read"))
    assert jwt_api.client.get("/v1/video/tasks", headers=read_only).status_code == 200
    body = assert_problem(
        jwt_api.client.post("/v1/video/edit/trim", json=TRIM, headers=read_only), 403, "insufficient_scope"
    )
    assert "edit" in body["detail"]
    as_list = bearer(good(scope=None, scopes=["edit"]))
    assert jwt_api.client.post("/v1/video/edit/trim", json=TRIM, headers=as_list).status_code == 202
    assert_problem(jwt_api.client.get("/v1/video/tasks", headers=as_list), 403, "insufficient_scope")
    assert_problem(
        jwt_api.client.post(
            "/v1/video/batch/generate", json={"items": [{"kind": "x", "request": {}}]}, headers=as_list
        ),
        403,
        "insufficient_scope",
    )


def test_key_scopes_and_admin(api: Api) -> None:
    reader = api.as_key(make_key(api.settings, scopes=["read"]))
    editor = api.as_key(make_key(api.settings, scopes=["edit"]))
    admin = api.as_key(make_key(api.settings, scopes=["admin"]))
    assert reader.get("/v1/video/tasks").status_code == 200
    body = assert_problem(reader.post("/v1/video/edit/trim", json=TRIM), 403, "insufficient_scope")
    assert "edit" in body["detail"]
    assert editor.post("/v1/video/edit/trim", json=TRIM).status_code == 202
    assert_problem(editor.get("/v1/video/tasks"), 403, "insufficient_scope")
    assert_problem(reader.post("/v1/video/assets", json={"url": "https://example.invalid/a.mp4"}), 403)
    assert admin.get("/v1/video/tasks").status_code == 200
    assert admin.post("/v1/video/edit/trim", json=TRIM).status_code == 202


def test_rs256_with_a_pem_public_key(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub.pem").write_bytes(pem)
    with running_app(make_settings(**{"auth.jwt_public_key": str(tmp_path / "pub.pem")})) as api:
        assert api.client.get("/v1/video/tasks", headers=bearer(token(key=private, alg="RS256"))).status_code == 200
        # The same claims signed as HS256 with the public key as the "secret" must not pass (algorithm confusion).
        forged = jwt.api_jws.PyJWS().encode(
            json.dumps({"sub": "user-1", "exp": int(time.time()) + 60}).encode(), b"anything", algorithm="HS256"
        )
        assert_problem(api.client.get("/v1/video/tasks", headers=bearer(forged)), 401, "invalid_token")
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert_problem(api.client.get("/v1/video/tasks", headers=bearer(token(key=other, alg="RS256"))), 401)


def _jwks(private: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return {"keys": [{**jwk, "kid": kid, "alg": "ES256", "use": "sig"}]}


def test_es256_with_a_jwks_file(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "jwks.json").write_text(json.dumps(_jwks(private, "k1")))
    with running_app(make_settings(**{"auth.jwt_jwks_url": str(tmp_path / "jwks.json")})) as api:
        ok = token(key=private, alg="ES256", kid="k1")
        assert api.client.get("/v1/video/tasks", headers=bearer(ok)).status_code == 200
        unknown_kid = token(key=private, alg="ES256", kid="k2")
        assert_problem(api.client.get("/v1/video/tasks", headers=bearer(unknown_kid)), 401, "invalid_token")


def test_es256_with_a_jwks_url_is_fetched_and_cached(make_settings: Callable[..., Settings]) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    document = json.dumps(_jwks(private, "k1")).encode()
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    serve_in_thread(server)
    try:
        settings = make_settings(**{"auth.jwt_jwks_url": f"http://127.0.0.1:{port}/jwks.json"})
        with running_app(settings) as api:
            for _ in range(3):
                resp = api.client.get("/v1/video/tasks", headers=bearer(token(key=private, alg="ES256", kid="k1")))
                assert resp.status_code == 200, resp.text
        assert hits == ["/jwks.json"]  # fetched once, then cached
    finally:
        server.shutdown()
        server.server_close()


def test_client_ip_ignores_forwarded_for_unless_the_peer_is_a_trusted_proxy() -> None:
    trusted = parse_networks(["10.0.0.0/8", "fd00::/8"])
    assert str(client_ip("203.0.113.9", ["198.51.100.1"], [])) == "203.0.113.9"
    assert str(client_ip("203.0.113.9", ["198.51.100.1"], trusted)) == "203.0.113.9"  # peer not trusted
    # Behind two trusted proxies, the rightmost untrusted hop is the client; what it claims further left is ignored.
    assert str(client_ip("10.0.0.2", ["1.2.3.4, 198.51.100.7, 10.0.0.5"], trusted)) == "198.51.100.7"
    assert str(client_ip("fd00::1", ["2001:db8::7"], trusted)) == "2001:db8::7"
    assert str(client_ip("10.0.0.2", [], trusted)) == "10.0.0.2"
    assert str(client_ip("10.0.0.2", ["garbage"], trusted)) == "10.0.0.2"


def test_ip_allowlist_over_a_real_socket(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with serve(settings) as base:
        local = make_key(settings, allow_ips=["127.0.0.1/32", "::1/128"])
        elsewhere = make_key(settings, allow_ips=["10.0.0.0/8", "2001:db8::/32"])
        open_key = make_key(settings)
        assert httpx.get(f"{base}/v1/video/tasks", headers=bearer(local)).status_code == 200
        assert httpx.get(f"{base}/v1/video/tasks", headers=bearer(open_key)).status_code == 200
        refused = httpx.get(f"{base}/v1/video/tasks", headers=bearer(elsewhere))
        assert_problem(refused, 403, "ip_not_allowed")
        # No trusted proxies configured: a forged X-Forwarded-For changes nothing.
        forged = httpx.get(f"{base}/v1/video/tasks", headers={**bearer(elsewhere), "X-Forwarded-For": "10.1.2.3"})
        assert_problem(forged, 403, "ip_not_allowed")


def test_trusted_proxy_forwarded_for_is_believed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(**{"server.trusted_proxies": ["127.0.0.0/8"]})
    with serve(settings) as base:
        key = make_key(settings, allow_ips=["10.0.0.0/8"])
        ok = httpx.get(f"{base}/v1/video/tasks", headers={**bearer(key), "X-Forwarded-For": "10.1.2.3"})
        assert ok.status_code == 200, ok.text
        # The client put 10.1.2.3 in front itself; the proxy appended its real address.
        spoofed = httpx.get(
            f"{base}/v1/video/tasks", headers={**bearer(key), "X-Forwarded-For": "10.1.2.3, 198.51.100.7"}
        )
        assert_problem(spoofed, 403, "ip_not_allowed")
