"""Two operators creating the same new policy at the same moment (real processes, both engines):
neither is refused, one row results, the first creates it and the second updates it."""

import multiprocessing
from datetime import UTC, datetime

from conftest import db_count

MARKETS = 20
_start_together = None  # a barrier, set in each pool process


def _share_barrier(barrier) -> None:
    global _start_together
    _start_together = barrier


def _operator(args) -> list[str]:
    url, which, worker = args
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import policies
    from valhalla_cli.services.offer import policies as offer_policies

    db = open_database(url)
    refused = []
    for i in range(MARKETS):
        _start_together.wait(timeout=60)
        # the same market, spelled differently by each operator (one identity)
        market = f"Rivière-{i}" if worker == 0 else f"RIVIERE-{i}"
        try:
            with db.transaction(write=True) as session:
                if which == "market":
                    policies.policy_set(
                        session, province="QC", market=market, timezones=None, windows=None,
                        channels=None, min_lead_score=10 + worker, quiet_on_holidays=None,
                        enabled=None, actor=f"op{worker}", at=datetime.now(UTC))
                else:
                    offer_policies.set_policy(
                        session, province="QC", market=market, actor=f"op{worker}",
                        at=datetime.now(UTC), reason="new market", arv_pct="0.70")
        except Exception as exc:  # reported to the parent, which fails the test
            refused.append(f"{type(exc).__name__}: {exc}")
    db.dispose()
    return refused


def _two_operators(db_url: str, which: str) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2, initializer=_share_barrier, initargs=(ctx.Barrier(2),)) as pool:
        return [line for lines in pool.map(_operator, [(db_url, which, w) for w in range(2)])
                for line in lines]


def test_two_operators_creating_one_market_policy(db_url, db):
    assert _two_operators(db_url, "market") == []
    assert db_count(db, "SELECT COUNT(*) FROM market_policy WHERE province = 'QC' "
                        "AND market <> '*'") == MARKETS
    # both changes are audited; the later one is the row's value
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'market' "
                        "AND subject LIKE 'QC/%'") == 2 * MARKETS


def test_two_operators_creating_one_offer_policy(db_url, db):
    assert _two_operators(db_url, "offer") == []
    assert db_count(db, "SELECT COUNT(*) FROM offer_policy WHERE province = 'QC' "
                        "AND market <> '*'") == MARKETS
    # the first creates the override; the second asks for the same values: no change, no entry
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'offer' "
                        "AND action = 'policy_create'") == MARKETS
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'offer' "
                        "AND action = 'policy_set'") == 0
