"""reset_table's guards: production, a missing or wrong confirm, and unknown tables are refused."""

import pytest

from test.support import load_event
from utilities.reset_table import transform


def test_confirmed_reset_outside_prod_is_allowed():
    assert transform.check(load_event("reset_table/errors.json"), stage="qa") == "errors"
    assert transform.check(load_event("reset_table/dead_letters.json"), stage="local") == "dead_letters"


@pytest.mark.parametrize("stage", ["prod", "production"])
def test_production_is_refused_whatever_the_event(stage):
    with pytest.raises(transform.Refused) as err:
        transform.check(load_event("reset_table/errors.json"), stage=stage)
    assert err.value.status == 403
    assert "disabled in stage" in str(err.value)


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
    with pytest.raises(transform.Refused) as err:
        transform.check(event, stage="qa")
    assert err.value.status == 400
    assert reason in str(err.value)
