"""The pure parts of destinations: which files a task delivers and under which keys, and sealed credentials."""

from __future__ import annotations

import pytest
import urllib3

from videoapi.destinations.copier import OutputFile, object_key, output_files, pinned_pool_manager
from videoapi.destinations.crypto import CredentialBox, Credentials, mask
from videoapi.errors import ServiceUnavailable


def test_main_output_poster_and_extras_are_each_delivered_once() -> None:
    main = {
        "storage_key": "outputs/t/1/output.mp4",
        "content_type": "video/mp4",
        "poster_key": "outputs/t/1/poster.jpg",
    }
    extra = {"storage_key": "outputs/t/1/thumb_001.jpg", "content_type": "image/jpeg", "poster_key": None}
    result = {**main, "outputs": [dict(main), extra]}
    assert output_files(result) == [
        OutputFile("outputs/t/1/output.mp4", "output.mp4", "video/mp4"),
        OutputFile("outputs/t/1/poster.jpg", "poster.jpg", "image/jpeg"),
        OutputFile("outputs/t/1/thumb_001.jpg", "thumb_001.jpg", "image/jpeg"),
    ]
    assert output_files(None) == [] and output_files({"transcript": "x"}) == []
    assert object_key("renders/", "t", "output.mp4") == "renders/t/output.mp4"
    assert object_key("", "t", "poster.jpg") == "t/poster.jpg"


def test_credentials_are_sealed_and_only_the_same_key_opens_them() -> None:
    box = CredentialBox("a" * 32)
    token = box.seal(Credentials("AKIAEXAMPLE", "very-secret"))
    assert "very-secret" not in token and "AKIAEXAMPLE" not in token
    assert box.seal(Credentials("AKIAEXAMPLE", "very-secret")) != token  # a fresh IV each time
    assert box.open(token) == Credentials("AKIAEXAMPLE", "very-secret")
    with pytest.raises(ServiceUnavailable) as exc:
        CredentialBox("b" * 32).open(token)
    assert exc.value.code == "destination_credentials_unreadable"


def test_the_access_key_is_masked_to_its_last_four_characters() -> None:
    assert mask("AKIAEXAMPLE7Q2F") == "****7Q2F"
    assert mask("short") == "****"


def test_copies_connect_to_the_checked_address_not_a_new_dns_answer(s3_endpoint: str) -> None:
    # Given a name that does not resolve at all, the pinned connection still reaches the checked address.
    port = s3_endpoint.rsplit(":", 1)[1]
    http = pinned_pool_manager("127.0.0.1")
    try:
        resp = http.request("GET", f"http://no-such-host.invalid:{port}/", headers={"Host": "ignored.invalid"})
    finally:
        http.clear()
    assert resp.status < 500
    with pytest.raises(urllib3.exceptions.NameResolutionError):
        urllib3.PoolManager(retries=False).request("GET", f"http://no-such-host.invalid:{port}/")


def test_a_previous_key_still_opens_and_rekeying_reseals_under_the_current_one() -> None:
    old = CredentialBox("old-" * 8)
    token = old.seal(Credentials("AKIAEXAMPLE", "very-secret"))
    rotated = CredentialBox("new-" * 8, previous=["old-" * 8])
    assert rotated.open(token) == Credentials("AKIAEXAMPLE", "very-secret")
    assert not rotated.is_current(token)
    resealed = rotated.reseal(token)
    assert rotated.is_current(resealed)
    # Once resealed, the new key alone opens it: the old key can be removed.
    assert CredentialBox("new-" * 8).open(resealed) == Credentials("AKIAEXAMPLE", "very-secret")
    assert rotated.seal(Credentials("a", "b")) and rotated.is_current(rotated.seal(Credentials("a", "b")))
    with pytest.raises(ServiceUnavailable):
        CredentialBox("new-" * 8, previous=["other" * 8]).reseal(token)
