"""The caching httpx transport google-auth uses to fetch Google's certificates."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from google.auth import exceptions

from adapters.google import CachingHttpxRequest

CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeServer:
    """Answers every request with the configured response and counts the hits."""

    def __init__(self) -> None:
        self.hits: list[httpx.Request] = []
        self.status = 200
        self.headers: dict[str, str] = {"Cache-Control": "public, max-age=600"}
        self.body = b'{"kid": "certificate"}'

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.hits.append(request)
        return httpx.Response(self.status, headers=self.headers, content=self.body)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def request_(server: FakeServer, clock: Clock) -> Iterator[CachingHttpxRequest]:
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        yield CachingHttpxRequest(client, now=clock)


def test_a_response_has_the_shape_google_auth_reads(request_: CachingHttpxRequest) -> None:
    response = request_(CERTS_URL)

    assert response.status == 200
    assert response.data == b'{"kid": "certificate"}'
    assert response.headers["cache-control"] == "public, max-age=600"


def test_a_second_get_within_max_age_is_served_from_memory(
    request_: CachingHttpxRequest, server: FakeServer, clock: Clock
) -> None:
    first = request_(CERTS_URL)
    clock.now += 599

    second = request_(CERTS_URL, method="GET")

    assert len(server.hits) == 1
    assert second.data == first.data


def test_an_expired_response_is_fetched_again(
    request_: CachingHttpxRequest, server: FakeServer, clock: Clock
) -> None:
    request_(CERTS_URL)
    clock.now += 600
    server.body = b'{"kid2": "new certificate"}'

    response = request_(CERTS_URL)

    assert len(server.hits) == 2
    assert response.data == b'{"kid2": "new certificate"}'


def test_without_max_age_a_response_is_kept_for_an_hour(
    request_: CachingHttpxRequest, server: FakeServer, clock: Clock
) -> None:
    server.headers = {}
    request_(CERTS_URL)
    clock.now += 3599
    request_(CERTS_URL)
    assert len(server.hits) == 1

    clock.now += 1
    request_(CERTS_URL)
    assert len(server.hits) == 2


def test_the_age_header_shortens_the_lifetime(
    request_: CachingHttpxRequest, server: FakeServer, clock: Clock
) -> None:
    server.headers = {"Cache-Control": "max-age=600", "Age": "500"}
    request_(CERTS_URL)
    clock.now += 100

    request_(CERTS_URL)

    assert len(server.hits) == 2


@pytest.mark.parametrize("cache_control", ["no-store", "no-cache", "max-age=0", "max-age=junk"])
def test_responses_the_server_forbids_caching_are_not_kept(
    request_: CachingHttpxRequest, server: FakeServer, cache_control: str
) -> None:
    server.headers = {"Cache-Control": cache_control}

    request_(CERTS_URL)
    request_(CERTS_URL)

    assert len(server.hits) == 2


def test_failed_responses_are_not_kept(request_: CachingHttpxRequest, server: FakeServer) -> None:
    server.status = 503

    assert request_(CERTS_URL).status == 503
    server.status = 200
    assert request_(CERTS_URL).status == 200
    assert len(server.hits) == 2


def test_each_url_is_cached_separately(request_: CachingHttpxRequest, server: FakeServer) -> None:
    request_(CERTS_URL)
    request_("https://www.googleapis.com/oauth2/v3/certs")
    request_(CERTS_URL)

    assert [str(hit.url) for hit in server.hits] == [
        CERTS_URL,
        "https://www.googleapis.com/oauth2/v3/certs",
    ]


def test_other_methods_are_never_cached(request_: CachingHttpxRequest, server: FakeServer) -> None:
    request_(CERTS_URL, method="POST", body=b"x", headers={"X-Test": "1"})
    request_(CERTS_URL, method="POST", body=b"x")

    assert [hit.method for hit in server.hits] == ["POST", "POST"]
    assert server.hits[0].content == b"x"
    assert server.hits[0].headers["x-test"] == "1"


def test_a_network_failure_is_a_google_auth_transport_error(clock: Clock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        request = CachingHttpxRequest(client, now=clock)
        with pytest.raises(exceptions.TransportError, match="Could not reach"):
            request(CERTS_URL)


def test_an_invalid_url_is_a_google_auth_transport_error(
    request_: CachingHttpxRequest,
) -> None:
    with pytest.raises(exceptions.TransportError):
        request_("http://[::1")


def test_a_client_built_here_is_closed_by_close() -> None:
    request = CachingHttpxRequest()

    request.close()

    assert request._client.is_closed


def test_an_injected_client_is_left_to_its_owner(server: FakeServer) -> None:
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        CachingHttpxRequest(client).close()

        assert not client.is_closed
