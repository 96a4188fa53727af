from datetime import UTC, datetime

from valhalla_cli.models import RegressionState
from valhalla_cli.services.levers import throttled_lever


def test_lever_is_free_until_a_throttle_row_says_otherwise(db):
    with db.transaction() as session:
        assert throttled_lever(session, "followups") is None
    since = datetime(2027, 1, 15, 12, tzinfo=UTC)
    with db.transaction(write=True) as session:
        session.add(RegressionState(lever="followups", throttled=True, since=since,
                                    metric="followup_completed", drop_pct=25.0,
                                    reason="followup_completed dropped 25%"))
    with db.transaction() as session:
        throttle = throttled_lever(session, "followups")
        assert throttle is not None and throttle.since == since
        assert "valhalla regression release followups" in throttle.message
        assert throttled_lever(session, "offers") is None
