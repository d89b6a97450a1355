"""The two Kinesis engines the suite runs on, as the local stack starts them."""

from __future__ import annotations

import pytest

from local.kinesis_mock import listening_addresses

pytestmark = pytest.mark.integration


def test_kinesis_mock_listens_on_loopback_only(kinesis_mock_url):
    """kinesis-mock has no bind-address setting; the preload must keep both its ports on 127.0.0.1."""
    port = int(kinesis_mock_url.rsplit(":", 1)[1])
    assert listening_addresses(port) == {"127.0.0.1"}


def test_listening_addresses_reads_a_wildcard_bind():
    """A guard for the check above: a socket bound to every interface is reported as 0.0.0.0."""
    import socket

    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))  # noqa: S104  # nosec B104 - closed at once, never accepts
        s.listen()
        assert listening_addresses(s.getsockname()[1]) == {"0.0.0.0"}  # noqa: S104
