"""url_path: every segment checked and encoded, so that no caller's text walks a path we build."""

from __future__ import annotations

import pytest

from connector_proxy.sdk.paths import UnsafeSegment, url_path


def test_segments_are_encoded_one_by_one() -> None:
    assert url_path("v1", "typeahead", "sample", "a b?c#d") == "/v1/typeahead/sample/a%20b%3Fc%23d"
    assert url_path("v1", "jobs", "3f2a-9") == "/v1/jobs/3f2a-9"
    assert url_path("v1", "do", "café", "x.y") == "/v1/do/caf%C3%A9/x.y"


@pytest.mark.parametrize(
    "segment",
    ["", ".", "..", "%2e%2e", "%2E.", "a/b", "a%2fb", "a%2Fb", "a\\b", "a%5cb", "a%00b", "a\r\nb", "%252f"],
)
def test_a_segment_that_could_walk_is_refused(segment: str) -> None:
    with pytest.raises(UnsafeSegment):
        url_path("v1", "typeahead", "sample", segment)
