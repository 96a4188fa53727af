"""Every endpoint answers what its CLI command prints with `--format json`, on both engines.

Two identical databases: the CLI runs each step against one, the `valhalla serve` application
(built in this process) against the other, in the same order, so both hold the same state at
every step. Each step pairs an endpoint (method, path, parameters) with the CLI command line for
the same request; the bodies must be equal (after removing the values that are random by
design, such as claim tokens), and the status code must be the exit code's twin (0 → 200,
1 → 409, 2 → 422). A test fails when an endpoint is mounted that no step exercises.
"""

from __future__ import annotations

import functools
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PG_URL, Cli, _pg_admin_engine

from api.conftest import AppServer, create_token


@pytest.fixture
def serve(tmp_path, capsys, monkeypatch) -> Iterator:
    """`serve(db_url)` builds the server's application over a database in this process."""
    started: list[AppServer] = []

    def start(db_url: str) -> AppServer:
        started.append(AppServer(db_url, tmp_path, capsys=capsys, monkeypatch=monkeypatch))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    """Both faces' texts identify the same business (SPEC 17.6); the server inherits it."""
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")

AT = "2027-01-15T10:00:00-05:00"
LATER = "2027-01-15T16:00:00-05:00"
NEXT_DAY = "2027-01-16T10:00:00-05:00"
ACTOR = "api:t-admin"
STATUS_OF_EXIT = {0: 200, 1: 409, 2: 422}
# Random by design (a claim is a secret nonce, a ladder id a UUID), or the wall clock of the
# moment a row was written.
VOLATILE = {"claim_token", "ladder_id", "ladder_ids", "recorded_at"}


@dataclass(frozen=True)
class Step:
    method: str
    path: str
    params: dict
    argv: tuple[str, ...]
    text: bool = False  # compare a text body (Markdown) instead of JSON
    query: bool = False  # a POST with its parameters in the query string, not a JSON body


def get(path: str, argv: str | tuple, **params) -> Step:
    return Step("GET", path, params, _argv(argv))


def post(path: str, argv: str | tuple, **params) -> Step:
    return Step("POST", path, params, _argv(argv))


def post_query(path: str, argv: str | tuple, **params) -> Step:
    return Step("POST", path, params, _argv(argv), query=True)


def _argv(argv: str | tuple) -> tuple[str, ...]:
    import shlex

    return tuple(shlex.split(argv)) if isinstance(argv, str) else argv


G, M, F, B, OF = ("/api/governance", "/api/governance/market", "/api/followups",
                 "/api/buyers/liquidity", "/api/deals/offers")
R = "--reason 'parity test'"
LD = "/api/leads"

STEPS: list[Step] = [
    get(f"{G}/runbook/status", f"runbook status --at {AT}", at=AT),
    post(f"{G}/go-live/checklist/add", f"golive checklist add dncl --title 'DNCL active' "
         f"--at {AT}", key="dncl", title="DNCL active", at=AT),
    post(f"{G}/go-live/enable", f"golive enable {R} --at {AT}", reason="parity test", at=AT),
    get(f"{G}/go-live/checklist", "golive checklist list"),
    post(f"{G}/go-live/checklist/sign", f"golive checklist sign dncl --note 'acct 4411' "
         f"--at {AT}", key="dncl", note="acct 4411", at=AT),
    post(f"{G}/go-live/checklist/unsign", f"golive checklist unsign dncl {R} --at {AT}",
         key="dncl", reason="parity test", at=AT),
    post(f"{G}/go-live/checklist/sign", f"golive checklist sign dncl --at {AT}", key="dncl",
         at=AT),
    post(f"{G}/go-live/enable", f"golive enable {R} --at {AT}", reason="parity test", at=AT),
    post(f"{G}/go-live/kill-switch/engage", f"golive kill-switch engage {R} --at {AT}",
         reason="parity test", at=AT),
    post(f"{G}/go-live/kill-switch/release", f"golive kill-switch release {R} --at {AT}",
         reason="parity test", at=AT),
    get(f"{G}/go-live/state", "golive state"),
    get(f"{G}/go-live/history", "golive history --limit 3", limit=3),
    Step("GET", f"{G}/runbook/markdown", {"at": AT}, ("runbook", "markdown", "--at", AT),
         text=True),
    # market
    get(f"{M}/policies", "market policies --province ON", province="ON"),
    post(f"{M}/policies/upsert", ("market", "policy-set", "ON", "--market", "TORONTO",
                                   "--window", "SMS mon-fri 09:30-19:00", "--min-lead-score",
                                   "40", "--at", AT),
         province="ON", market="TORONTO", window=["SMS mon-fri 09:30-19:00"], min_lead_score=40,
         at=AT),
    get(f"{M}/effective", "market effective ON --market TORONTO", province="ON",
        market="TORONTO"),
    get(f"{M}/can-contact", f"market can-contact ON --market TORONTO --channel CALL "
        f"--lead-score 60 --at {AT}", province="ON", market="TORONTO", channel="CALL",
        lead_score=60, at=AT),
    get(f"{M}/can-contact", "market can-contact BC --channel SMS --at 2027-01-15T08:30",
        province="BC", channel="SMS", at="2027-01-15T08:30"),
    get(f"{M}/can-contact", "market can-contact XX --channel SMS", province="XX",
        channel="SMS"),
    post(f"{M}/suppress", f"market suppress L-0999 --reason 'replied STOP' --at {AT}",
         lead="L-0999", reason="replied STOP", at=AT),
    get(f"{M}/suppressions", "market suppressions"),
    # the follow-up ladder
    post(f"{F}/ladder/create", f"ladder create L-1001 --province ON --market TORONTO "
         f"--owner va1 --lead-score 55 --phone +14165550199 --consent express --at {AT}",
         lead="L-1001", province="ON", market="TORONTO", owner="va1", lead_score=55,
         phone="+14165550199", consent="express", at=AT),
    post(f"{F}/ladder/create", f"ladder create L-0999 --province ON --at {AT}", lead="L-0999",
         province="ON", at=AT),
    post(f"{F}/ladder/create", f"ladder create L-1002 --province ON --at {AT}", lead="L-1002",
         province="ON", at=AT),
    get(f"{F}/ladder/L-1001", "ladder show L-1001"),
    get(f"{F}/due", f"ladder due --at {AT}", at=AT),
    post(f"{F}/dispatch", f"ladder dispatch --worker w1 --limit 1 --at {AT}", worker="w1",
         limit=1, at=AT),
    post(f"{F}/task/1/complete", "ladder complete 1 --outcome sent --note ok "
         "--at 2027-01-15T10:04", outcome="sent", note="ok", at="2027-01-15T10:04"),
    post(f"{F}/task/1/complete", "ladder complete 1 --outcome voicemail "
         "--at 2027-01-15T10:05", outcome="voicemail", at="2027-01-15T10:05"),
    post(f"{F}/task/1/amend", f"ladder amend 1 --outcome no_answer {R} "
         "--at 2027-01-15T10:06", outcome="no_answer", reason="parity test",
         at="2027-01-15T10:06"),
    post(f"{F}/task/1/release", f"ladder release 1 {R} --at 2027-01-15T10:06",
         reason="parity test", at="2027-01-15T10:06"),
    post(f"{F}/task/2/release", f"ladder release 2 {R} --at 2027-01-15T10:06",
         reason="parity test", at="2027-01-15T10:06"),
    post(f"{F}/ladder/L-1002/stop", f"ladder stop L-1002 {R} --at {AT}",
         reason="parity test", at=AT),
    get(f"{F}/sla", f"ladder sla --since 2027-01-15 --until 2027-01-15 --at {AT}",
        since="2027-01-15", until="2027-01-15", at=AT),
    get(f"{F}/sla", f"ladder sla --since 2027-01-15 --until 2027-01-15 --by owner --at {AT}",
        since="2027-01-15", until="2027-01-15", by="owner", at=AT),
    # buyer liquidity
    post(f"{B}/feedback", "liquidity feedback ON --market TORONTO --buyer B-1 --responded "
         "--closed --deal-ref D-1 --at 2027-01-14T12:00", province="ON", market="TORONTO",
         buyer="B-1", responded=True, closed=True, deal_ref="D-1", at="2027-01-14T12:00"),
    post(f"{B}/feedback", "liquidity feedback ON --market TORONTO --buyer B-2 --no-response "
         "--at 2027-01-14T12:05", province="ON", market="TORONTO", buyer="B-2",
         responded=False, at="2027-01-14T12:05"),
    get(f"{B}/score", f"liquidity score ON --market TORONTO --at {AT}", province="ON",
        market="TORONTO", at=AT),
    get(f"{B}/nodes", f"liquidity nodes --province ON --at {AT}", province="ON", at=AT),
    # offers (seeded disabled: a "no" first)
    post(f"{OF}/compute", f"offer compute ON --arv 450000 --repairs 50000 --at {AT}",
         province="ON", arv="450000", repairs="50000", at=AT),
    # The seed's own example: POST /api/deals/offers/policies/upsert?province=ON&enabled=true
    post_query(f"{OF}/policies/upsert", f"offer policy-set ON --enable --at {AT}",
               province="ON", enabled="true", at=AT),
    post(f"{OF}/policies/upsert", "offer policy-set ON --market TORONTO --arv-pct 0.72 "
         f"--dry-run --at {AT}", province="ON", market="TORONTO", arv_pct="0.72", dry_run=True,
         at=AT),
    post(f"{OF}/compute", f"offer compute ON --market TORONTO --arv 450000 --repairs 50000 "
         f"--deal-ref D-77 --at {AT}", province="ON", market="TORONTO", arv="450000",
         repairs="50000", deal_ref="D-77", at=AT),
    get(f"{OF}/policies", "offer policies --province ON", province="ON"),
    get(f"{OF}/evidence", "offer evidence list --limit 5", limit=5),
    get(f"{OF}/evidence/2", "offer evidence show 2"),
    post(f"{OF}/2/outcome", f"offer outcome 2 --status sent --at {AT}", status="sent", at=AT),
    post(f"{OF}/2/outcome", f"offer outcome 2 --status accepted --amount 999000 --at {LATER}",
         status="accepted", amount="999000", at=LATER),
    post(f"{OF}/2/outcome", f"offer outcome 2 --status accepted --amount 999000 "
         f"--over-max-reason 'parity test' --at {LATER}", status="accepted", amount="999000",
         over_max_reason="parity test", at=LATER),
    # risk
    post(f"{G}/risk/reserve", f"risk reserve acquisitions 5000 --ref D-77-emd --at {AT}",
         engine="acquisitions", amount="5000", ref="D-77-emd", at=AT),
    post(f"{G}/risk/reserve", f"risk reserve acquisitions 5000 --ref D-77-emd --at {AT}",
         engine="acquisitions", amount=5000, ref="D-77-emd", at=AT),
    post(f"{G}/risk/reserve", f"risk reserve acquisitions 30000 --ref D-78-emd --at {AT}",
         engine="acquisitions", amount="30000", ref="D-78-emd", at=AT),
    post(f"{G}/risk/reserve", f"risk reserve acquisitions 1000 --ref D-79 --at {AT}",
         engine="acquisitions", amount="1000", ref="D-79", at=AT),
    post(f"{G}/risk/settle", f"risk settle --ref D-77-emd --pnl -1200 --at {LATER}",
         ref="D-77-emd", pnl="-1200", at=LATER),
    post(f"{G}/risk/release", f"risk release --ref D-79 --at {LATER}", ref="D-79", at=LATER),
    get(f"{G}/risk/snapshot", "risk snapshot --day 2027-01-15", day="2027-01-15"),
    get(f"{G}/risk/snapshot", f"risk snapshot --day 2027-01-15 --at {AT}", day="2027-01-15",
        at=AT),
    get(f"{G}/risk/events", "risk events --day 2027-01-15 --engine acquisitions",
        day="2027-01-15", engine="acquisitions"),
    post(f"{G}/risk/policies/upsert", f"risk policy-set marketing --daily-cap 12000 {R} "
         f"--at {AT}", engine="marketing", daily_cap="12000", reason="parity test", at=AT),
    get(f"{G}/risk/policies", "risk policies"),
    # heimdall
    post(f"{G}/heimdall/record", f"heimdall record offer_pricing --confidence 0.91 --subject "
         f"D-77 --payload '{{\"mao\": 1}}' --at {AT}", domain="offer_pricing",
         confidence=0.91, subject="D-77", payload='{"mao": 1}', at=AT),
    post(f"{G}/heimdall/recommendation/1/outcome", f"heimdall outcome 1 --success "
         f"--at {NEXT_DAY}", success=True, at=NEXT_DAY),
    post(f"{G}/heimdall/recommendation/1/outcome", f"heimdall outcome 1 --failure "
         f"--at {NEXT_DAY}", success=False, at=NEXT_DAY),
    get(f"{G}/heimdall/scorecard", f"heimdall scorecard --at {NEXT_DAY}", at=NEXT_DAY),
    post(f"{G}/heimdall/promote", f"heimdall promote offer_pricing {R} --at {NEXT_DAY}",
         domain="offer_pricing", reason="parity test", at=NEXT_DAY),
    post(f"{G}/heimdall/demote", f"heimdall demote offer_pricing {R} --at {NEXT_DAY}",
         domain="offer_pricing", reason="parity test", at=NEXT_DAY),
    post(f"{G}/heimdall/policies/upsert", f"heimdall policy-set lead_scoring --min-confidence "
         f"0.85 --min-samples 50 {R} --at {AT}", domain="lead_scoring", min_confidence=0.85,
         min_samples=50, reason="parity test", at=AT),
    get(f"{G}/heimdall/policies", "heimdall policies"),
    # KPI and the regression tripwire
    post(f"{G}/kpi/emit", f"kpi emit offer_generated --value 2 --province ON --source web "
         f"--at {AT}", metric="offer_generated", value=2, province="ON", source="web", at=AT),
    get(f"{G}/kpi/events", "kpi list --metric offer_generated --limit 5",
        metric="offer_generated", limit=5),
    get(f"{G}/kpi/summary", f"kpi summary --days 3 --at {LATER}", days=3, at=LATER),
    post(f"{G}/regression/evaluate", f"regression evaluate --at {LATER}", at=LATER),
    post(f"{G}/regression/evaluate", f"regression evaluate --dry-run --at {LATER}",
         dry_run=True, at=LATER),
    get(f"{G}/regression/state", "regression state"),
    post(f"{G}/regression/release", f"regression release followups {R} --at {LATER}",
         lever="followups", reason="parity test", at=LATER),
    post(f"{G}/regression/policies/upsert", f"regression policy-set buyer_feedback "
         f"--max-drop-pct 25 --confidence 0.995 {R} --at {AT}", metric="buyer_feedback",
         max_drop_pct=25, confidence=0.995, reason="parity test", at=AT),
    get(f"{G}/regression/policies", "regression policies"),
    # leads, consent, replies (SPEC 17); the imports stay CLI-only
    post(f"{LD}/upsert", f"lead add L-2001 --province ON --phone '(604) 555-0123' "
         f"--name 'Sam Lee' --source ppc --at {AT}", lead="L-2001", province="ON",
         phone="(604) 555-0123", name="Sam Lee", source="ppc", at=AT),
    post(f"{LD}/upsert", f"lead add L-2001 --language fr --market TORONTO --at {LATER}",
         lead="L-2001", language="fr", market="TORONTO", at=LATER),
    post(f"{LD}/upsert", f"lead add L-2002 --province ON --phone 555 --at {AT}",
         lead="L-2002", province="ON", phone="555", at=AT),
    get(LD, "lead list --province ON", province="ON"),
    get(LD, "lead list --market TORONTO --limit 1", market="TORONTO", limit=1),
    post(f"{LD}/L-2001/consent", f"lead consent L-2001 --kind inquiry --channel SMS "
         f"--evidence 'called about selling' --at {AT}", kind="inquiry",
         channel="SMS", evidence="called about selling", at=AT),
    post(f"{LD}/L-2001/consent", f"lead consent L-2001 --kind sometimes --at {AT}",
         kind="sometimes", at=AT),
    get(f"{LD}/L-2001", f"lead show L-2001 --at {AT}", at=AT),
    get(f"{LD}/L-9999", f"lead show L-9999 --at {AT}", at=AT),
    post(f"{LD}/inbound", f"lead inbound --from +16045550123 --body 'maybe in spring' "
         f"--at {AT}", **{"from": "+16045550123", "body": "maybe in spring", "at": AT}),
    post(f"{LD}/inbound", f"lead inbound --from '(416) 555-0142' --body 'ARRÊT' --at {AT}",
         **{"from": "(416) 555-0142", "body": "ARRÊT", "at": AT}),
    # the inbox (SPEC 22): L-2001's reply opened its item
    get("/api/inbox", f"inbox --at {AT}", at=AT),
    get("/api/inbox", f"inbox --kind nope --at {AT}", kind="nope", at=AT),
    get("/api/inbox/L-2001", f"inbox show L-2001 --at {AT}", at=AT),
    post("/api/inbox/L-2001/reply", f"inbox reply L-2001 --text 'Hello Sam' --at {AT}",
         text="Hello Sam", at=AT),  # 07:00 in Vancouver: outside the window, a "no"
    post("/api/inbox/L-2001/close", f"inbox close L-2001 --outcome later --at {AT}",
         outcome="later", at=AT),
    post("/api/inbox/L-2001/close", f"inbox close L-2001 --outcome contacted --note called "
         f"--at {AT}", outcome="contacted", note="called", at=AT),
    post(f"{LD}/L-2001/consent/withdraw", f"lead consent L-2001 --withdraw --at {LATER}",
         at=LATER),
    get(f"{LD}/L-2001", f"lead show L-2001 --at {LATER}", at=LATER),
    # the National DNCL (import stays CLI-only) and the SMS templates
    get(f"{G}/dncl/status", f"dncl status --at {AT}", at=AT),
    get(f"{G}/dncl/check", f"dncl check '(416) 555-0199' --at {AT}", number="(416) 555-0199",
        at=AT),
    get(f"{G}/dncl/check", f"dncl check 12 --at {AT}", number="12", at=AT),
    get(f"{G}/templates", "template list"),
    post(f"{G}/templates/upsert", ("template", "set", "--step", "2", "--language", "en",
                                   "--text", "{business}: still selling? Call {callback}. "
                                   "Reply STOP to opt out.", "--at", AT),
         step=2, language="en", text="{business}: still selling? Call {callback}. "
         "Reply STOP to opt out.", at=AT),
    post(f"{G}/templates/upsert", ("template", "set", "--language", "fr", "--text",
                                   "{business}: toujours vendeur?", "--at", AT),
         language="fr", text="{business}: toujours vendeur?", at=AT),
    get(f"{G}/templates", "template list"),
    get(f"{G}/templates/preview", "template preview L-1001", lead="L-1001"),
    get(f"{G}/templates/preview", "template preview L-1001 --step 2", lead="L-1001", step=2),
    # housekeeping
    get(f"{G}/audit", "audit --pack golive --limit 5", pack="golive", limit=5),
    get(f"{G}/audit", "audit --pack nope", pack="nope"),
    get(f"{G}/status", f"status --at {LATER}", at=LATER),
    # the call desk (SPEC 23): its queue as `desk`, the decision as `can-contact`, a
    # disposition as `ladder complete` (Next call and Call need a caller's token: tested in
    # test_desk_api.py)
    get("/api/desk", f"desk --owner va1 --at {AT}", owner="va1", at=AT),
    get("/api/desk/2/check", f"market can-contact --lead L-1001 --channel CALL --lead-score 55 "
        f"--at {LATER}",
        at=LATER),
    post("/api/desk/2/disposition", f"ladder complete 2 --outcome later --claim-token x "
         f"--at {LATER}", outcome="later", claim_token="x", at=LATER),
    post(f"{G}/go-live/disable", f"golive disable {R} --at {LATER}", reason="parity test",
         at=LATER),
    post(f"{F}/dispatch", f"ladder dispatch --worker w1 --at {LATER}", worker="w1", at=LATER),
]


def said(stderr: str) -> str:
    """The sentence of a "no" as the CLI prints it: its last line on standard error, after
    `valhalla: ` (and `error: ` for a no that has no answer to print)."""
    line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    return line.removeprefix("valhalla: ").removeprefix("error: ")


def refusal_of(answer) -> tuple[str, str]:
    """The reason code and sentence of an HTTP 409: in its body (`refusal`, or the body itself
    for a no without an answer) and, the same, in its headers."""
    from urllib.parse import unquote

    heard = unquote(answer.headers.get("valhalla-refusal", ""))
    if answer.headers.get("content-type", "").startswith("application/json"):
        body = answer.json()
        if isinstance(body, dict):
            refusal = body.get("refusal", body)
            assert refusal.get("message") == heard, (refusal, heard)
            assert refusal.get("reason") == answer.headers.get("valhalla-reason"), refusal
    return heard


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.fixture
def twin_db_url(db_url: str, tmp_path: Path, request) -> Iterator[str]:
    """A second database identical to `db_url` (same engine, same seeds)."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "twin.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    from sqlalchemy.engine import make_url

    template = request.getfixturevalue("pg_template")
    name = f"vh_twin_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_every_endpoint_answers_what_its_cli_command_prints(db_url, twin_db_url, serve):
    """Each step's body is what the CLI prints; a "no" also carries the sentence the CLI says
    on standard error (`refusal.message`, and the `Valhalla-Refusal` header)."""
    from api.test_readme_endpoints import expected_rows

    cli = Cli(twin_db_url)
    token = create_token(db_url, "t-admin", "admin")
    cli("api", "token", "create", "t-admin", "--scope", "admin")  # the same audit trail
    server = serve(db_url)
    failures = []
    try:
        with httpx_client(server, token) as client:
            for number, step in enumerate(STEPS, 1):
                argv = ("--actor", ACTOR, *step.argv)
                if not step.text:
                    argv = (*argv, "--format", "json")
                printed = cli(*argv)
                if step.method == "GET":
                    answer = client.get(step.path, params=step.params)
                elif step.query:
                    answer = client.post(step.path, params=step.params)
                else:
                    answer = client.post(step.path, json=step.params)
                label = f"step {number}: {step.method} {step.path} ~ {' '.join(step.argv)}"
                expected_status = STATUS_OF_EXIT[printed.exit_code]
                if answer.status_code != expected_status:
                    failures.append(f"{label}: HTTP {answer.status_code}, CLI exit "
                                    f"{printed.exit_code}: {answer.text[:300]}")
                    continue
                if printed.exit_code == 2 or (printed.exit_code == 1 and not printed.stdout):
                    assert answer.json().get("error") or answer.json().get("reason"), label
                    continue
                if printed.exit_code == 1 and refusal_of(answer) != said(printed.stderr):
                    failures.append(f"{label}: the sentences differ:\n  API "
                                    f"{refusal_of(answer)}\n  CLI {said(printed.stderr)}")
                if step.text:
                    same = answer.text == printed.stdout
                    got, want = answer.text, printed.stdout
                else:
                    got, want = _strip(answer.json()), _strip(json.loads(printed.stdout))
                    if printed.exit_code == 1 and isinstance(got, dict):
                        got.pop("refusal", None)  # the sentence, compared above
                    same = got == want
                if not same:
                    failures.append(f"{label}:\n  API {got}\n  CLI {want}")
    finally:
        server.stop()
    assert "Traceback" not in server.log()
    assert failures == [], "\n".join(failures)
    exercised = {(s.method, _template(s.path)) for s in STEPS} | CALLER_ONLY
    mounted = {(method, path) for method, path, _cli, _scope in expected_rows()}
    assert mounted - exercised == set(), "endpoints without a parity step"


# --- the HTTP face keeps the CLI's promises: every option of a command is a parameter ------------

# Options that choose how the CLI prints, which an HTTP answer does not have (it is always JSON,
# with every column).
RENDERING_OPTIONS = {"format", "json", "wide"}
# A `--enable/--disable` pair is the boolean parameter `enabled` (true or false).
FLAG_PAIR_NAMES = {"enable": "enabled"}
# What an endpoint leaves out on purpose, with the reason; every other option must be there.
NOT_OVER_HTTP = {
    # Next call is one dispatch claim of the caller's owner's CALL tasks, with the configured
    # lease, for the token; the check is can-contact for the task's lead by call.
    ("POST", "/api/desk/next"): {"limit", "lease", "worker", "channel", "dry_run"},
    ("GET", "/api/desk/{task}/check"): {"lead", "phone", "province", "market", "channel",
                                        "lead_score"},
    # The withdrawal is its own endpoint (`.../consent/withdraw`), not a flag of this one.
    ("POST", "/api/leads/{lead}/consent"): {"withdraw"},
    # A withdrawal records no evidence: the CLI refuses these with --withdraw.
    ("POST", "/api/leads/{lead}/consent/withdraw"): {"withdraw", "kind", "channel", "evidence"},
}


# Endpoints that act for a caller's token (its held card, its phone): no CLI command has one.
CALLER_ONLY = {("POST", "/api/desk/next"), ("POST", "/api/desk/{task}/call")}


@functools.cache
def _root():
    """The Click tree, built once (building it takes a third of a second)."""
    from conftest import cli_root

    return cli_root()


def _command_of(cli: str):
    """The Click command an endpoint names, e.g. 'valhalla ladder create'."""
    command = _root()
    for word in cli.split()[1:]:
        if word.startswith("-"):
            break
        command = command.commands[word]
    return command


def _parameter_names(command) -> set[str]:
    """The request parameter each CLI option or argument becomes: its long option in
    snake_case (`--lead-score` -> lead_score), an argument by its name."""
    names = set()
    for param in command.params:
        longs = [o for o in param.opts if o.startswith("--")]
        name = longs[0][2:].replace("-", "_") if longs else param.name
        names.add(FLAG_PAIR_NAMES.get(name, name) if param.secondary_opts else name)
    return names - RENDERING_OPTIONS


def test_http_face_keeps_the_cli_promises_every_option_of_a_command_is_a_parameter():
    """Derived from the CLI's command tree: a command option that its endpoint does not take
    fails here (as `ladder create --name/--language/--consent-at` did)."""
    from valhalla_cli.api.app import pack_routers

    missing = {}
    for pack in pack_routers():
        for endpoint in pack.endpoints:
            if not endpoint.cli.startswith("valhalla "):
                continue  # no CLI twin (the call desk's Call button)
            expected = (_parameter_names(_command_of(endpoint.cli))
                        - NOT_OVER_HTTP.get((endpoint.method, endpoint.path), set()))
            lacking = expected - {p.name for p in endpoint.params}
            if lacking:
                missing[f"{endpoint.method} {endpoint.path} ({endpoint.cli})"] = sorted(lacking)
    assert missing == {}


def test_http_face_keeps_the_cli_promises_can_contact_with_a_lead_needs_no_province(
        db_url, serve):
    """`market can-contact --lead L --channel CALL` needs no province; neither does the
    endpoint: it answers what the CLI prints (the lead's province decides)."""
    cli = Cli(db_url)
    cli("lead", "add", "L-3001", "--province", "ON", "--phone", "(416) 555-0142",
        "--at", AT)
    printed = cli("market", "can-contact", "--lead", "L-3001", "--channel", "CALL", "--at", AT,
                  "--format", "json")
    token = create_token(db_url, "t-read", "read")
    server = serve(db_url)
    try:
        with httpx_client(server, token) as client:
            answer = client.get("/api/governance/market/can-contact",
                                params={"lead": "L-3001", "channel": "CALL", "at": AT})
    finally:
        server.stop()
    assert answer.status_code == STATUS_OF_EXIT[printed.exit_code], answer.text
    body = answer.json()
    if printed.exit_code == 1:
        assert body.pop("refusal")["message"] == said(printed.stderr)
    assert body == json.loads(printed.stdout)
    assert body["lead_id"] == "L-3001"


def test_http_face_keeps_the_cli_promises_ladder_create_takes_name_language_consent_at(
        db_url, serve):
    """The body `ladder create` options become: name, language and consent_at are kept."""
    token = create_token(db_url, "t-op", "operate")
    server = serve(db_url)
    try:
        with httpx_client(server, token) as client:
            answer = client.post("/api/followups/ladder/create", json={
                "lead": "L-3002", "province": "QC", "name": "Élise Roy", "language": "en",
                "phone": "+15145550142", "consent": "express",
                "consent_at": "2027-01-10T09:00", "at": AT})
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    shown = Cli(db_url)("lead", "show", "L-3002", "--at", AT, "--format", "json")
    lead = json.loads(shown.stdout)
    assert lead["name"] == "Élise Roy"
    assert lead["language"] == "en"
    assert [c["given_at"] for c in lead["consents"]] == ["2027-01-10T14:00:00Z"]


def test_http_face_keeps_the_cli_promises_offer_compute_takes_comps(db_url, twin_db_url,
                                                                     tmp_path, serve):
    """`offer compute --comps FILE --sqft N`: over HTTP the file's rows are a list of objects;
    the offer is the same to the cent, and a bad row is named as in a file (422)."""
    rows = [{"address": "12 Elm St", "sold_price": "610000", "sqft": "1500",
             "sold_on": "2027-01-02"},
            {"address": "40 Oak Ave", "sold_price": "585000.50", "sqft": "1420",
             "sold_on": "2026-12-20"}]
    comps = tmp_path / "comps.csv"
    comps.write_text("address,sold_price,sqft,sold_on\n" + "".join(
        f"{r['address']},{r['sold_price']},{r['sqft']},{r['sold_on']}\n" for r in rows))
    cli = Cli(twin_db_url)
    for argv in (("offer", "policy-set", "ON", "--enable", "--reason", "p", "--at", AT),
                 ("golive", "enable", "--reason", "p", "--at", AT)):
        assert cli(*argv).exit_code == 0
        assert Cli(db_url)(*argv).exit_code == 0
    printed = cli("offer", "compute", "ON", "--comps", str(comps), "--sqft", "1450",
                  "--repairs", "50000", "--at", AT, "--json")
    assert printed.exit_code == 0, printed.stderr
    token = create_token(db_url, "t-op", "operate")
    server = serve(db_url)
    try:
        with httpx_client(server, token) as client:
            answer = client.post("/api/deals/offers/compute", json={
                "province": "ON", "comps": rows, "sqft": "1450", "repairs": "50000",
                "at": AT})
            bad = client.post("/api/deals/offers/compute", json={
                "province": "ON", "comps": [{**rows[0], "sqft": "huge"}], "sqft": "1450",
                "repairs": "50000", "at": AT})
            unknown = client.post("/api/deals/offers/compute", json={
                "province": "ON", "comps": [{**rows[0], "colour": "red"}], "sqft": "1450",
                "repairs": "50000", "at": AT})
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    got, want = answer.json(), printed.json
    for key in ("arv", "arv_source", "mao", "max_offer", "opening_offer", "outcome"):
        assert got[key] == want[key], key
    assert got["comps"]["count"] == 2 and got["comps"]["arv"] == want["comps"]["arv"]
    assert bad.status_code == 422 and "comps:1: field 'sqft'" in bad.json()["error"]["message"]
    assert unknown.status_code == 422 and "unknown column 'colour'" in unknown.text


def _template(path: str) -> str:
    """/api/followups/task/1/complete -> /api/followups/task/{task}/complete."""
    from api.test_readme_endpoints import expected_rows

    candidates = {candidate for _method, candidate, _cli, _scope in expected_rows()}
    if path in candidates:
        return path
    for candidate in candidates:
        parts, given = candidate.split("/"), path.split("/")
        if len(parts) == len(given) and all(p == g or p.startswith("{")
                                            for p, g in zip(parts, given, strict=True)):
            return candidate
    return path


def httpx_client(server: AppServer, token: str):
    return server.client(None, headers={"Authorization": f"Bearer {token}"})


def test_a_no_says_the_same_sentence_on_both_faces(db_url, twin_db_url, serve):
    """The same refusal through the CLI and through HTTP: the 409 carries the reason code and
    the very sentence the CLI prints on standard error (a contact "no", a runbook "no" whose
    answer is Markdown, and a dispatch "no" that has no answer to print)."""
    from urllib.parse import unquote

    cli = Cli(twin_db_url)
    for url in (db_url, twin_db_url):  # an unsigned checklist item: the runbook says no
        added = Cli(url)("golive", "checklist", "add", "dncl", "--title", "DNCL", "--at", AT)
        assert added.exit_code == 0, added.stderr
    token = create_token(db_url, "t-admin", "admin")
    server = serve(db_url)
    cases = [
        ("GET", "/api/governance/market/can-contact",
         {"province": "BC", "channel": "SMS", "at": "2027-01-15T08:30"},
         ("market", "can-contact", "BC", "--channel", "SMS", "--at", "2027-01-15T08:30",
          "--format", "json"), "outside_window"),
        ("GET", "/api/governance/runbook/markdown", {"at": AT},
         ("runbook", "markdown", "--at", AT), None),
        ("POST", "/api/followups/dispatch", {"at": AT}, ("ladder", "dispatch", "--at", AT),
         "golive_disabled"),
    ]
    try:
        with httpx_client(server, token) as client:
            for method, path, params, argv, reason in cases:
                printed = cli(*argv)
                answer = (client.get(path, params=params) if method == "GET"
                          else client.post(path, json=params))
                assert printed.exit_code == 1 and answer.status_code == 409, (path, answer.text)
                sentence = said(printed.stderr)
                assert sentence and unquote(answer.headers["valhalla-refusal"]) == sentence
                if reason is not None:
                    body = answer.json()
                    refusal = body.get("refusal", body)
                    assert refusal == {"reason": reason, "message": sentence}, refusal
                    assert answer.headers["valhalla-reason"] == reason
    finally:
        server.stop()
