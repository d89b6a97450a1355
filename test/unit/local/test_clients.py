"""The local commands' AWS clients: each service at the endpoint the running stack gave it."""

import pytest

from local import __main__ as commands


def test_kinesis_goes_to_its_own_endpoint_and_the_rest_to_the_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the settings `up --kinesis kinesis-mock` writes: moto for everything, kinesis-mock for Kinesis
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # THEN a command's Kinesis client reads kinesis-mock (redrive once read moto's), and SQS and S3 moto
    assert commands._client("kinesis").meta.endpoint_url == "http://127.0.0.1:4567"
    assert commands._client("sqs").meta.endpoint_url == "http://127.0.0.1:4566"
    assert commands._client("s3").meta.endpoint_url == "http://127.0.0.1:4566"
