"""Two callers creating the same thing at the same moment (real processes started together,
both engines): the provider's callbacks or a person's texts for one number, two operators
adding the same lead, template, policy (market, offer, risk, heimdall, regression), checklist
item, wrong number or suppression, the same lead file or DNCL area code imported twice. Neither
gets a unique-key failure (exit 5 / HTTP 500) nor a duplicate; the second gets what it would
have got coming second in sequence."""

import multiprocessing
from datetime import UTC, datetime

import pytest
from conftest import db_count

pytestmark = pytest.mark.slow  # real processes racing: about 45 s for the file on both engines
ROUNDS = 20
_start_together = None  # a barrier, set in each pool process


def _share_barrier(barrier) -> None:
    global _start_together
    _start_together = barrier


def _not_textable(session, i: int, worker: int) -> str:
    # Two messages to one number failing with "not textable": their callbacks arrive together.
    from valhalla_cli.services.sending import ledger

    ledger.apply_code(session, code=30006, phone=f"+1514555{i:04d}", at=datetime.now(UTC),
                      actor="api:sms-status")
    return "recorded"


def _lead(session, i: int, worker: int) -> str:
    from valhalla_cli.services import lead

    fields = lead.validate_fields(lead_id=f"RACE-{i}", province="QC",
                                  phone=f"+1438555{i:04d}", name=f"Operator {worker}")
    result = lead.add(session, fields=fields, at=datetime.now(UTC), actor=f"op{worker}")
    return "created" if result.created else "updated"


def _template(session, i: int, worker: int) -> str:
    from valhalla_cli.services import template

    view = template.set_template(session, step=80 + i, language="en",
                                 text=f"{{business}}: hello from {worker}. Reply STOP to opt out.",
                                 actor=f"op{worker}", at=datetime.now(UTC))
    return "created" if view.created else "updated"


def _heimdall(session, i: int, worker: int) -> str:
    from valhalla_cli.services.heimdall import policies

    change = policies.set_policy(session, domain=f"race_domain_{i}", actor=f"op{worker}",
                                 at=datetime.now(UTC), min_samples=10 + worker)
    return "created" if change.created else "updated"


def _regression(session, i: int, worker: int) -> str:
    from valhalla_cli.services import regression

    change = regression.set_policy(session, metric=f"race_metric_{i}", actor=f"op{worker}",
                                   at=datetime.now(UTC), lever="offers", statistic="mean",
                                   max_drop_pct=10.0 + worker)
    return "created" if change.created else "updated"


def _checklist(session, i: int, worker: int) -> str:
    from valhalla_cli.errors import BadInput
    from valhalla_cli.services import golive

    try:
        golive.add_checklist_item(session, key=f"race-{i}", title=f"Step {i} by {worker}",
                                  actor=f"op{worker}", at=datetime.now(UTC))
    except BadInput as exc:  # the refusal the second of two sequential adds gets
        assert "already exists" in str(exc)
        return "refused"
    return "created"


def _wrong_number(session, i: int, worker: int) -> str:
    # `inbox close` and `ladder complete --outcome wrong_number` on one lead at once.
    from sqlalchemy import select
    from sqlmodel import col

    from valhalla_cli.models import Lead
    from valhalla_cli.services.inbox_tasks import detach_wrong_number

    lead = session.scalars(select(Lead).where(col(Lead.lead_id) == f"WRONG-{i}")).one()
    detached = detach_wrong_number(session, lead=lead, at=datetime.now(UTC),
                                   actor=f"op{worker}")
    return "detached" if detached else "none"


def _inbound(session, i: int, worker: int) -> str:
    # A person sending two texts at once (round i: both STOP when i is even, both a reply when
    # odd), from a number the provider had marked not textable in half the rounds.
    import warnings

    from sqlalchemy.exc import SAWarning

    from valhalla_cli.services import lead

    body = "STOP" if i % 2 == 0 else f"Yes, call me ({worker})"
    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)  # e.g. a row deleted twice
        result = lead.inbound(session, phone=f"+1613555{i:04d}", body=body,
                              at=datetime.now(UTC), actor="api:sms-webhook",
                              business_name="Valhalla")
    return result.action


def _suppress(session, i: int, worker: int) -> str:
    from valhalla_cli.services import suppression

    view = suppression.suppress(session, lead_id=f"SUP-{i}", phone=None,
                                reason=f"asked by operator {worker}", actor=f"op{worker}",
                                at=datetime.now(UTC))
    return "created" if view.created else "existing"


def _risk_policy(session, i: int, worker: int) -> str:
    from valhalla_cli.services.risk import policy

    result = policy.policy_set(session, engine=f"race-engine-{i}", daily_cap=f"{100 + worker}",
                               enabled=None, at=datetime.now(UTC), actor=f"op{worker}",
                               business_timezone="America/Toronto")
    return "created" if result.created else "updated"


def _market_policy(session, i: int, worker: int) -> str:
    # the same market, spelled differently by each operator (one identity, market_key)
    from valhalla_cli.services import policies

    policies.policy_set(session, province="QC", market=f"Rivière-{i}" if worker else f"RIVIERE-{i}",
                        timezones=None, windows=None, channels=None, min_lead_score=10 + worker,
                        quiet_on_holidays=None, enabled=None, actor=f"op{worker}",
                        at=datetime.now(UTC))
    return "set"


def _offer_policy(session, i: int, worker: int) -> str:
    from valhalla_cli.services.offer import policies

    result = policies.set_policy(session, province="QC",
                                 market=f"Rivière-{i}" if worker else f"RIVIERE-{i}",
                                 actor=f"op{worker}", at=datetime.now(UTC), reason="new market",
                                 arv_pct="0.70")
    return "created" if result.created else "updated"


SCENARIOS = {f.__name__.lstrip("_"): f for f in (
    _risk_policy, _market_policy, _offer_policy,
    _not_textable, _lead, _template, _heimdall, _regression, _checklist, _wrong_number,
    _inbound, _suppress)}


def _dncl_area(i: int) -> int:
    from valhalla_cli.phones import AREA_CODES

    return int(sorted(AREA_CODES)[i])


def _dncl_import(db, i: int, worker: int) -> str:
    # Two `dncl import` runs of downloads holding the same new area code, as the command runs
    # them (staged batches, then the flip that points the area code at its numbers).
    from valhalla_cli.services import dncl
    from valhalla_cli.staging import StagedImport

    area = _dncl_area(i)
    with StagedImport(db, "dncl import", actor=f"op{worker}", path=f"dncl-{worker}.zip") \
            as staged, db.transaction(write=True) as session:
        staged.bind(session)
        download = dncl.Download(f"dncl-{worker}.zip",
                                 [(area, area * 10_000_000 + 5550000 + worker)],
                                 lambda: staged.checkpoint(session))
        dncl.import_numbers(session, download, as_of=None, at=datetime.now(UTC),
                            actor=f"op{worker}", business_timezone="America/Toronto")
        staged.flip(session)
    return "imported"


IMPORTED_LEADS = 30


def _lead_file(folder: str, i: int) -> str:
    return f"{folder}/leads-{i}.csv"


def _lead_import(db, i: int, worker: int, folder: str) -> str:
    # The same file imported twice at once (an operator re-running it while the first run is
    # still going), as `lead import` runs it: staged batches, then the flip.
    from pathlib import Path

    from valhalla_cli.importing import read_rows
    from valhalla_cli.services import lead_import
    from valhalla_cli.staging import StagedImport

    path = Path(_lead_file(folder, i))
    with StagedImport(db, "lead import", actor=f"op{worker}", path=path) as staged, \
            db.transaction(write=True) as session:
        staged.bind(session)
        rows = read_rows(path, required=lead_import.REQUIRED, optional=lead_import.OPTIONAL,
                         after_batch=lambda: staged.checkpoint(session))
        lead_import.import_rows(session, rows, at=datetime.now(UTC), actor=f"op{worker}",
                                business_timezone="America/Toronto")
        staged.flip(session)
    return "imported"


def _caller(args) -> list[str]:
    url, scenario, worker, folder = args
    from valhalla_cli.bootstrap import open_database

    db = open_database(url)
    outcomes = []
    for i in range(ROUNDS):
        _start_together.wait(timeout=120)
        try:
            if scenario == "dncl_import":  # its own transactions, as the command's
                outcomes.append(_dncl_import(db, i, worker))
                continue
            if scenario == "lead_import":
                outcomes.append(_lead_import(db, i, worker, folder))
                continue
            with db.transaction(write=True) as session:
                outcomes.append(SCENARIOS[scenario](session, i, worker))
        except Exception as exc:  # reported to the parent, which fails the test
            outcomes.append(f"failed: {type(exc).__name__}: {str(exc)[:300]}")
    db.dispose()
    return outcomes


def _two_callers(db_url: str, scenario: str, folder: str = "") -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2, initializer=_share_barrier, initargs=(ctx.Barrier(2),)) as pool:
        return [outcome for outcomes in pool.map(_caller, [(db_url, scenario, w, folder)
                                                          for w in range(2)])
                for outcome in outcomes]


def _failures(outcomes: list[str]) -> list[str]:
    return [o for o in outcomes if o.startswith("failed")]


def test_two_not_textable_callbacks_for_one_number(db_url, db):
    outcomes = _two_callers(db_url, "not_textable")
    assert _failures(outcomes) == []
    assert db_count(db, "SELECT COUNT(*) FROM phone_status WHERE number LIKE '+1514555%' "
                        "AND code = 30006") == ROUNDS


def test_two_operators_adding_one_lead(db_url, db):
    outcomes = _two_callers(db_url, "lead")
    assert _failures(outcomes) == []
    # the first creates the lead, the second updates it (its name), as in sequence
    assert sorted(outcomes) == ["created"] * ROUNDS + ["updated"] * ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE lead_id LIKE 'RACE-%'") == ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'lead' "
                        "AND action = 'add' AND subject LIKE 'RACE-%'") == ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'lead' "
                        "AND action = 'update' AND subject LIKE 'RACE-%'") == ROUNDS


@pytest.mark.parametrize("scenario,table,where", [
    ("template", "message_template", "step >= 80"),
    ("heimdall", "heimdall_policy", "domain LIKE 'race_domain_%'"),
    ("regression", "regression_policy", "metric LIKE 'race_metric_%'"),
    ("risk_policy", "risk_policy", "engine LIKE 'race-engine-%'"),
    ("offer_policy", "offer_policy", "province = 'QC' AND market <> '*'"),
])
def test_two_operators_creating_one_setting(db_url, db, scenario, table, where):
    outcomes = _two_callers(db_url, scenario)
    assert _failures(outcomes) == []
    # the first creates it, the second replaces its values
    assert sorted(outcomes) == ["created"] * ROUNDS + ["updated"] * ROUNDS
    assert db_count(db, f"SELECT COUNT(*) FROM {table} WHERE {where}") == ROUNDS


def test_two_operators_creating_one_market_policy(db_url, db):
    outcomes = _two_callers(db_url, "market_policy")
    assert _failures(outcomes) == []
    assert db_count(db, "SELECT COUNT(*) FROM market_policy WHERE province = 'QC' "
                        "AND market <> '*'") == ROUNDS
    # both changes are audited (the first creates the row, the second changes its score)
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'market' "
                        "AND subject LIKE 'QC/%'") == 2 * ROUNDS


def test_two_operators_adding_one_checklist_item(db_url, db):
    outcomes = _two_callers(db_url, "checklist")
    assert _failures(outcomes) == []
    # the second is refused as it is when it comes second in sequence
    assert sorted(outcomes) == ["created"] * ROUNDS + ["refused"] * ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM go_live_checklist_item "
                        "WHERE key LIKE 'race-%'") == ROUNDS


def _add_leads(db, prefix: str, province: str, phone_prefix: str) -> None:
    """ROUNDS leads PREFIX-0..., each with its own number, created before the race."""
    from valhalla_cli.services import lead

    with db.transaction(write=True) as session:
        for i in range(ROUNDS):
            lead.add(session, fields=lead.validate_fields(
                lead_id=f"{prefix}-{i}", province=province, phone=f"{phone_prefix}{i:04d}"),
                at=datetime.now(UTC), actor="setup")


def test_two_operators_detaching_one_wrong_number(db_url, db):
    _add_leads(db, "WRONG", "ON", "+1416555")
    outcomes = _two_callers(db_url, "wrong_number")
    assert _failures(outcomes) == []
    assert db_count(db, "SELECT COUNT(*) FROM wrong_number WHERE lead_id LIKE 'WRONG-%'") \
        == ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE lead_id LIKE 'WRONG-%' "
                        "AND phone IS NOT NULL") == 0


def test_two_texts_from_one_number_at_once(db_url, db):
    from valhalla_cli.services.sending import ledger

    _add_leads(db, "TEXT", "ON", "+1613555")
    with db.transaction(write=True) as session:
        for i in range(ROUNDS):
            if i % 4 < 2:
                ledger.mark_not_textable(session, phone=f"+1613555{i:04d}", code=30006,
                                         at=datetime.now(UTC))
    outcomes = _two_callers(db_url, "inbound")
    assert _failures(outcomes) == []
    assert sorted(outcomes) == ["opted_out"] * ROUNDS + ["recorded"] * ROUNDS
    # both texts are kept; the number can be texted again; one open item per replying lead
    assert db_count(db, "SELECT COUNT(*) FROM inbound_message WHERE phone LIKE '+1613555%'") \
        == 2 * ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM phone_status WHERE number LIKE '+1613555%'") == 0
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item WHERE lead_id LIKE 'TEXT-%' "
                        "AND status = 'open'") == ROUNDS // 2
    # STOP twice suppresses the number once
    assert db_count(db, "SELECT COUNT(*) FROM contact_suppression "
                        "WHERE phone LIKE '+1613555%'") == ROUNDS // 2


def test_two_operators_suppressing_one_lead(db_url, db):
    _add_leads(db, "SUP", "ON", "+1705555")
    outcomes = _two_callers(db_url, "suppress")
    assert _failures(outcomes) == []
    # the second gets the first's entry back (created: false), as it does in sequence
    assert sorted(outcomes) == ["created"] * ROUNDS + ["existing"] * ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM contact_suppression "
                        "WHERE lead_id LIKE 'SUP-%'") == ROUNDS
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'suppress' "
                        "AND subject LIKE 'SUP-%'") == ROUNDS


def test_two_dncl_imports_of_one_new_area_code(db_url, db):
    outcomes = _two_callers(db_url, "dncl_import")
    assert _failures(outcomes) == []
    areas = ", ".join(str(_dncl_area(i)) for i in range(ROUNDS))
    # each area code points at one of the two downloads, whose one number is there
    assert db_count(db, f"SELECT COUNT(*) FROM dncl_area WHERE area_code IN ({areas}) "
                        "AND numbers = 1") == ROUNDS


def test_one_lead_file_imported_twice_at_once(db_url, db, tmp_path):
    for i in range(ROUNDS):
        lines = ["lead_id,province,phone,name"] + [
            f"IMP-{i}-{n},QC,+1819555{i:02d}{n:02d},Person {n}" for n in range(IMPORTED_LEADS)]
        with open(_lead_file(str(tmp_path), i), "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
    outcomes = _two_callers(db_url, "lead_import", str(tmp_path))
    assert _failures(outcomes) == []
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE lead_id LIKE 'IMP-%'") \
        == ROUNDS * IMPORTED_LEADS
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE lead_id LIKE 'IMP-%' "
                        "AND name LIKE 'Person %' AND language = 'fr'") == ROUNDS * IMPORTED_LEADS
