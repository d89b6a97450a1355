"""The one refusal every function raises: a PipelineError with the status to answer and the reason."""

import pytest

from shared.exceptions import PipelineError, Rejected


@pytest.mark.parametrize("status", [400, 403, 405, 409, 413])
def test_a_rejection_answers_with_its_status_and_reason(status):
    error = Rejected(status, "the reason")
    assert isinstance(error, PipelineError)
    assert (error.status, error.reason, str(error)) == (status, "the reason", "the reason")
    assert error.response() == {"statusCode": status, "error": "the reason"}
