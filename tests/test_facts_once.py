"""Each fact written once: the KPI metric names the packs emit and the tripwire watches, the
words a rule accepts and its help lists, the schema revision's reader, the --day/--at rule of a
business-day report and where the config file is."""

from __future__ import annotations

import ast
import importlib
import re

import pytest
from conftest import REPO

PACKAGE = REPO / "valhalla_cli"


def _module_of(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _kpi_metric_expressions(tree: ast.AST) -> list[ast.expr]:
    """The metric of every `kpi.emit(metric=...)` and of every KPI event row built for
    `kpi.insert_many` (a dict with both a "metric" and an "occurred_at" key)."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "emit" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "kpi"):
            found += [k.value for k in node.keywords if k.arg == "metric"]
        elif isinstance(node, ast.Dict):
            keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant)}
            if "metric" in keys and "occurred_at" in keys:
                found.append(keys["metric"])
    return found


# `kpi emit` and `kpi import` record the metrics an operator names (the names are input).
OPERATOR_METRICS = ("kpi.py", "kpi_import.py")


def _emitted_metrics() -> tuple[set[str], list[str]]:
    """Every metric a pack emits, evaluated where it is emitted, and where one is a literal."""
    metrics: set[str] = set()
    literals: list[str] = []
    for path in sorted((PACKAGE / "services").rglob("*.py")):
        if path.name in OPERATOR_METRICS:
            continue
        expressions = _kpi_metric_expressions(ast.parse(path.read_text(encoding="utf-8")))
        if not expressions:
            continue
        namespace = vars(importlib.import_module(_module_of(path)))
        for expr in expressions:
            if isinstance(expr, ast.Constant):
                literals.append(f"{path.relative_to(REPO)}:{expr.lineno}")
            metrics.add(eval(compile(ast.Expression(expr), str(path), "eval"), namespace))
    return metrics, literals


def test_every_seeded_policy_watches_a_metric_a_pack_emits():
    from valhalla_cli.services.regression import seeded_policies

    emitted, literals = _emitted_metrics()
    # each metric name is the constant of the pack that emits it, not a string retyped
    assert literals == []
    assert {"ladder_created", "followup_completed", "buyer_feedback", "offer_generated",
            "sms_delivered", "reply_answered", "inbound_reply"} <= emitted
    seeded = seeded_policies()
    assert len(seeded) == 5
    assert sorted(set(seeded) - emitted) == []  # a misspelt metric would watch nothing


def test_the_metric_scan_would_catch_a_literal_and_a_misspelt_policy():
    tree = ast.parse('kpi.emit(session, metric="ladder_creatd", at=at)\n'
                     'rows.append({"metric": KPI_X, "value": 1.0, "occurred_at": at})\n')
    found = _kpi_metric_expressions(tree)
    assert [ast.unparse(e) for e in found] == ["'ladder_creatd'", "KPI_X"]
    emitted, _ = _emitted_metrics()
    assert "ladder_creatd" not in emitted


def _help(cli_nodb, *path: str) -> str:
    result = cli_nodb(*path, "--help")
    assert result.exit_code == 0, result.stderr
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())


@pytest.mark.parametrize(("path", "accepted"), [
    (("ladder", "complete"), "valhalla_cli.services.ladder.config:CONTINUE_OUTCOMES"),
    (("ladder", "complete"), "valhalla_cli.services.ladder.config:STOP_OUTCOMES"),
    (("ladder", "amend"), "valhalla_cli.services.ladder.config:CONTINUE_OUTCOMES"),
    (("ladder", "amend"), "valhalla_cli.services.ladder.config:STOP_OUTCOMES"),
    (("ladder", "create"), "valhalla_cli.services.consent:KINDS"),
    (("ladder", "sla"), "valhalla_cli.services.ladder.config:GROUPS"),
    (("lead", "consent"), "valhalla_cli.services.consent:KINDS"),
    (("lead", "consent"), "valhalla_cli.services.consent:CONSENT_CHANNELS"),
    (("lead", "add"), "valhalla_cli.services.contact_facts:LANGUAGES"),
    (("inbox", "close"), "valhalla_cli.models.inbox:OUTCOMES"),
    (("offer", "outcome"), "valhalla_cli.services.offer_outcome:STAGES"),
    (("offer", "funnel"), "valhalla_cli.services.offer_outcome:GROUPS"),
    (("offer", "compute"), "valhalla_cli.inputs:PROPERTY_TYPES"),
    (("liquidity", "feedback"), "valhalla_cli.inputs:PROPERTY_TYPES"),
    (("send", "report"), "valhalla_cli.services.sending.report:GROUPS"),
    (("market", "can-contact"), "valhalla_cli.services.contact_rules:CHANNELS"),
    (("inbox",), "valhalla_cli.services.inbox_rules:KINDS"),
    (("offer", "outcome"), "valhalla_cli.services.offer_outcome:PRICED"),
    (("regression", "release"), "valhalla_cli.services.levers:LEVERS"),
    (("regression", "policy-set"), "valhalla_cli.services.levers:LEVERS"),
    (("regression", "policy-set"), "valhalla_cli.services.stats:STATISTICS"),
    (("api", "token"), "valhalla_cli.services.api_tokens:SCOPES"),
    (("api", "token", "create"), "valhalla_cli.services.api_tokens:SCOPES"),
])
def test_a_help_lists_exactly_the_words_its_rule_accepts(cli_nodb, path, accepted):
    from valhalla_cli import vocabulary

    module, _, name = accepted.partition(":")
    words = getattr(importlib.import_module(module), name)
    # the rule's tuple is the vocabulary's: the help below cannot drift from the rule
    assert any(words is value for value in vars(vocabulary).values()), accepted
    shown = _help(cli_nodb, *path)
    assert [w for w in words if not re.search(rf"(?<![\w-]){w}(?![\w-])", shown)] == [], shown


@pytest.mark.parametrize(("model", "field", "accepted"), [
    ("desk:Disposition", "outcome", "valhalla_cli.services.desk:DISPOSITIONS"),
    ("inbox:ListQuery", "kind", "valhalla_cli.services.inbox_rules:KINDS"),
    ("inbox:Close", "outcome", "valhalla_cli.models.inbox:OUTCOMES"),
    ("ladder:Create", "language", "valhalla_cli.services.contact_facts:LANGUAGES"),
    ("ladder:Create", "consent", "valhalla_cli.services.consent:KINDS"),
    ("ladder:Complete", "outcome", "valhalla_cli.services.ladder.config:CONTINUE_OUTCOMES"),
    ("ladder:Complete", "outcome", "valhalla_cli.services.ladder.config:STOP_OUTCOMES"),
    ("ladder:Dispatch", "channel", "valhalla_cli.services.contact_rules:CHANNELS"),
    ("ladder:SlaQuery", "by", "valhalla_cli.services.ladder.config:GROUPS"),
    ("lead:Upsert", "language", "valhalla_cli.services.contact_facts:LANGUAGES"),
    ("lead:Consent", "kind", "valhalla_cli.services.consent:KINDS"),
    ("lead:Consent", "channel", "valhalla_cli.services.consent:CONSENT_CHANNELS"),
    ("liquidity:Feedback", "type", "valhalla_cli.inputs:PROPERTY_TYPES"),
    ("market:CanContactQuery", "channel", "valhalla_cli.services.contact_rules:CHANNELS"),
    ("offer:Compute", "type", "valhalla_cli.inputs:PROPERTY_TYPES"),
    ("offer:Outcome", "status", "valhalla_cli.services.offer_outcome:STAGES"),
    ("offer:Outcome", "amount", "valhalla_cli.services.offer_outcome:PRICED"),
    ("template:Upsert", "language", "valhalla_cli.services.contact_facts:LANGUAGES"),
    ("regression:Release", "lever", "valhalla_cli.services.levers:LEVERS"),
    ("regression:PolicySet", "lever", "valhalla_cli.services.levers:LEVERS"),
    ("regression:PolicySet", "statistic", "valhalla_cli.services.stats:STATISTICS"),
])
def test_an_api_field_describes_exactly_the_words_its_rule_accepts(model, field, accepted):
    from valhalla_cli import vocabulary

    module, _, name = accepted.partition(":")
    words = getattr(importlib.import_module(module), name)
    assert any(words is value for value in vars(vocabulary).values()), accepted
    router, _, cls = model.partition(":")
    params = getattr(importlib.import_module(f"valhalla_cli.api.routers.{router}"), cls)
    described = params.model_fields[field].description
    assert [w for w in words if not re.search(rf"(?<![\w-]){w}(?![\w-])", described)] == [], \
        described


def test_one_reader_of_the_schema_revision():
    readers = [f"{p.relative_to(REPO)}" for p in sorted(PACKAGE.rglob("*.py"))
               if "FROM alembic_version" in p.read_text(encoding="utf-8")]
    assert readers == ["valhalla_cli/schema.py"]
    assert (PACKAGE / "schema.py").read_text(encoding="utf-8").count("FROM alembic_version") == 1


def test_the_revision_reader_on_an_empty_and_an_initialised_database(db_url, tmp_path):
    from sqlalchemy import create_engine

    from valhalla_cli.schema import current_revision, known_head_revision, read_revisions

    engine = create_engine(db_url)
    try:
        assert current_revision(engine) == known_head_revision()
        with engine.connect() as conn:
            assert read_revisions(conn) == (known_head_revision(),)
    finally:
        engine.dispose()
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert current_revision(empty) is None
        with empty.connect() as conn:
            assert read_revisions(conn) == ()
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1  # the connection goes on
    finally:
        empty.dispose()


def test_the_day_or_at_rule_is_written_once():
    holders = [str(p.relative_to(REPO)) for p in sorted(PACKAGE.rglob("*.py"))
               if re.search(r"give -*day or -*at", p.read_text(encoding="utf-8"))]
    assert holders == ["valhalla_cli/inputs.py"]


@pytest.mark.parametrize("command", ["snapshot", "events"])
def test_day_and_at_together_are_bad_input_with_one_message(cli, command):
    result = cli("risk", command, "--day", "2027-01-15", "--at", "2027-01-15T10:00")
    assert result.exit_code == 2
    assert result.stderr.strip() == "valhalla: error: give --day or --at, not both"
    assert cli("risk", command, "--day", "2027-01-15", "--json").exit_code == 0


def test_day_or_at_names_the_business_day():
    from datetime import date

    from valhalla_cli.errors import BadInput
    from valhalla_cli.inputs import parse_business_day

    assert parse_business_day("2027-01-15", None, "America/Toronto") == date(2027, 1, 15)
    # 02:30 UTC on the 16th is still the 15th in Toronto
    assert parse_business_day(None, "2027-01-16T02:30:00Z", "America/Toronto") == date(2027, 1, 15)
    with pytest.raises(BadInput, match="give --day or --at, not both"):
        parse_business_day("2027-01-15", "2027-01-15T10:00", "America/Toronto")


def test_config_path_follows_the_same_precedence_as_every_command(cli_nodb, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    flag, env = tmp_path / "flag.toml", tmp_path / "env.toml"
    default = tmp_path / "cfg" / "valhalla" / "config.toml"
    assert cli_nodb("config", "path").stdout == f"{default}\n"
    assert cli_nodb("config", "path", env={"VALHALLA_CONFIG": str(env)}).stdout == f"{env}\n"
    assert cli_nodb("--config", str(flag), "config", "path",
                    env={"VALHALLA_CONFIG": str(env)}).stdout == f"{flag}\n"
    blank = cli_nodb("config", "path", env={"VALHALLA_CONFIG": ""})
    assert blank.exit_code == 2 and "VALHALLA_CONFIG" in blank.stderr


def _enumerations() -> dict[str, tuple[str, ...]]:
    from valhalla_cli import vocabulary

    return {name: value for name, value in vars(vocabulary).items()
            if name.isupper() and isinstance(value, tuple) and len(value) > 1}


def _retyped_lists(text: str) -> list[tuple[str, str]]:
    """(enumeration, the words) for each list in `text` ("a, b or c") of at least three of one
    enumeration's words, or all of a shorter one's: a list the vocabulary should have built. Two
    words of a long enumeration in a sentence ("a province or market") are prose."""
    found = []
    for name, items in _enumerations().items():
        word = "|".join(re.escape(w) for w in sorted(items, key=len, reverse=True))
        run = rf"(?<![\w-])(?:{word})(?:(?:, or |, and |, | or | and )(?:{word}))+(?![\w-])"
        found += [(name, m.group(0)) for m in re.finditer(run, text)
                  if len(set(re.split(r",? or |,? and |, ", m.group(0))))
                  >= min(3, len(items))]
    return found


def _face_strings():
    """Every string literal of the two faces' modules (help texts, descriptions, docstrings,
    messages), with where it is."""
    for folder in ("commands", "api/routers"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    yield f"{path.relative_to(REPO)}:{node.lineno}", node.value


def test_no_face_retypes_an_enumeration_of_the_vocabulary():
    retyped = [(where, name, words) for where, text in _face_strings()
               for name, words in _retyped_lists(text)]
    assert retyped == []


def test_a_retyped_enumeration_is_found():
    assert _retyped_lists('help="en or fr (default: fr for QC)."') == [("LANGUAGES", "en or fr")]
    assert ("LADDER_GROUPS", "owner, province or step") in _retyped_lists(
        "Group by owner, province or step.")
    assert ("OFFER_STAGES", "sent, accepted, countered") in _retyped_lists(
        "Record the stage: sent, accepted, countered (a counter is answered)")
    assert _retyped_lists("Group by {words(LADDER_GROUPS)}.") == []
    assert _retyped_lists("The merged policy for a province or market.") == []
    assert _retyped_lists("mean (of the values) or rate (events per hour)") == []
