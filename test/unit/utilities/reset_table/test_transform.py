"""reset_table's guards: any stage not allowed, a missing or wrong confirm, and unknown tables are refused."""

import pytest

from shared import config
from shared.exceptions import ConfigError, Rejected
from test.support import load_event
from utilities.reset_table import transform

ALLOWED = config.DEFAULT_RESET_STAGES


def test_confirmed_reset_in_an_allowed_stage_is_allowed():
    event = load_event("reset_table/errors.json")
    assert transform.parse_request(event, stage="qa", allowed_stages=ALLOWED) == "errors"
    event = load_event("reset_table/dead_letters.json")
    assert transform.parse_request(event, stage="local", allowed_stages=ALLOWED) == "dead_letters"


@pytest.mark.parametrize("stage", ["prod", "production", "prd", "prod-eu", "live", "staging", "qa2"])
def test_every_stage_not_allowed_is_refused_whatever_the_event(stage):
    with pytest.raises(Rejected) as err:
        transform.parse_request(load_event("reset_table/errors.json"), stage=stage, allowed_stages=ALLOWED)
    assert err.value.status == 403
    assert f"disabled in stage {stage!r}: RESET_ALLOWED_STAGES allows only dev, local, qa, test" in str(err.value)


def test_the_allow_list_is_a_setting():
    base = {"STAGE": "qa", "AWS_REGION": "eu-west-1"}
    assert config.load(environ=base).reset_allowed_stages == {"local", "qa", "dev", "test"}
    settings = config.load(environ={**base, "RESET_ALLOWED_STAGES": "sandbox, qa"})
    assert settings.reset_allowed_stages == {"sandbox", "qa"}
    event = load_event("reset_table/errors.json")
    assert transform.parse_request(event, stage="sandbox", allowed_stages=settings.reset_allowed_stages) == "errors"
    with pytest.raises(Rejected, match="allows only qa, sandbox"):
        transform.parse_request(event, stage="dev", allowed_stages=settings.reset_allowed_stages)
    with pytest.raises(Rejected, match="allows only none"):
        transform.parse_request(event, stage="qa", allowed_stages=frozenset())
    with pytest.raises(ConfigError, match="RESET_ALLOWED_STAGES must be stage names"):
        config.load(environ={**base, "RESET_ALLOWED_STAGES": "qa,Prod!"})


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"table": "errors"}, "confirm must repeat the table name"),
        ({"table": "errors", "confirm": "dead_letters"}, "confirm must repeat the table name"),
        ({"table": "errors", "confirm": "ERRORS"}, "confirm must repeat the table name"),
        ({"table": "schema_migrations", "confirm": "schema_migrations"}, "table must be one of"),
        ({"table": "errors; TRUNCATE x", "confirm": "errors; TRUNCATE x"}, "table must be one of"),
        ({"table": "errors", "confirm": "errors", "cascade": True}, "unknown field(s): cascade"),
        ([], "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused(event, reason):
    with pytest.raises(Rejected) as err:
        transform.parse_request(event, stage="qa", allowed_stages=ALLOWED)
    assert err.value.status == 400
    assert reason in str(err.value)


def test_the_lock_timeout_message_says_what_happened():
    message = transform.lock_timeout_message("errors", 5000)
    assert "could not lock errors within 5000 ms" in message and "nothing was removed" in message
