"""`valhalla config` and `valhalla init`: precedence, the template, errors."""

import tomllib
from pathlib import Path

from conftest import REPO


def test_example_file_is_what_config_init_writes(cli_nodb, tmp_path):
    target = tmp_path / "c.toml"
    result = cli_nodb("config", "init", "--path", str(target))
    assert result.exit_code == 0
    assert result.stdout.strip() == str(target)
    assert target.read_text() == (REPO / "config.example.toml").read_text()
    tomllib.loads(target.read_text())


def test_config_init_refuses_to_overwrite_without_force(cli_nodb, tmp_path):
    target = tmp_path / "c.toml"
    target.write_text("# mine\n")
    result = cli_nodb("config", "init", "--path", str(target))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert target.read_text() == "# mine\n"
    assert cli_nodb("config", "init", "--path", str(target), "--force").exit_code == 0
    assert "[business]" in target.read_text()


def test_precedence_flag_over_env_over_file_over_default(cli_nodb, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[operator]\nname = "from-file"\n[database]\nurl = "sqlite:////tmp/f.db"\n')

    def shown(*args, env=None):
        rows = cli_nodb("--config", str(config), *args, "config", "show", "--json", env=env).json
        return {r["setting"]: (r["value"], r["source"]) for r in rows}

    assert shown(env={"VALHALLA_ACTOR": None})["actor"] == ("from-file", "file")
    assert shown(env={"VALHALLA_ACTOR": "from-env"})["actor"] == ("from-env", "env")
    assert shown("--actor", "from-flag", env={"VALHALLA_ACTOR": "from-env"})["actor"] == (
        "from-flag", "flag")
    assert shown()["business_timezone"] == ("America/Toronto", "default")


def test_config_show_masks_the_database_password(cli_nodb):
    rows = cli_nodb("--db", "postgresql+psycopg://ops:s%40cret@db.internal/valhalla",
                    "config", "show", "--json").json
    url = next(r["value"] for r in rows if r["setting"] == "database_url")
    assert url == "postgresql+psycopg://ops:***@db.internal/valhalla"


def test_config_path_prints_only_the_path(cli_nodb, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    result = cli_nodb("config", "path")
    assert result.stdout == f"{tmp_path / 'cfg' / 'valhalla' / 'config.toml'}\n"


def test_unknown_or_malformed_keys_are_exit_3_naming_file_and_key(cli_nodb, tmp_path):
    config = tmp_path / "bad.toml"
    cases = {
        '[database]\nurll = "x"\n': "database.urll",
        '[golive]\nenforce = "yes"\n': "golive.enforce",
        "[ladder]\nmax_attempts = true\n": "ladder.max_attempts",
        "[bogus]\n": "bogus",
        "not toml = = 1\n": "not valid TOML",
        '[business]\ntimezone = "Mars/Olympus"\n': "business.timezone",
    }
    for text, expected in cases.items():
        config.write_text(text)
        result = cli_nodb("--config", str(config), "config", "show")
        assert result.exit_code == 3, text
        assert str(config) in result.stderr and expected in result.stderr


def test_init_writes_config_and_creates_the_database(cli_nodb, tmp_path, monkeypatch):
    data = Path(tmp_path / "data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    result = cli_nodb("init")
    assert result.exit_code == 0, result.stderr
    config_path = Path(result.stdout.strip())
    assert config_path.exists()
    assert (data / "valhalla" / "valhalla.db").exists()
    assert cli_nodb("init").exit_code == 0  # safe to run twice
    assert cli_nodb("runbook", "status").exit_code == 0


def test_golive_enforce_env_must_be_boolean(cli_nodb):
    result = cli_nodb("golive", "state", env={"VALHALLA_GOLIVE_ENFORCE": "maybe"})
    assert result.exit_code == 3 and "VALHALLA_GOLIVE_ENFORCE" in result.stderr


def test_a_partial_ladder_table_keeps_the_other_defaults(cli_nodb, tmp_path):
    """`valhalla config show` lists the [ladder] settings, in the template's order: a key the
    file gives is read from it, every other keeps the default the template writes."""
    config = tmp_path / "c.toml"
    config.write_text('[ladder]\nsteps = ["CALL 0m", "SMS 1d"]\nmax_attempts = 5\n')
    rows = cli_nodb("--config", str(config), "config", "show", "--json").json
    ladder = {r["setting"]: r["value"] for r in rows if r["setting"].startswith("ladder_")}
    template = tomllib.loads((REPO / "config.example.toml").read_text())["ladder"]
    assert list(ladder) == [f"ladder_{key}" for key in template]
    assert ladder == {"ladder_steps": ["CALL 0m", "SMS 1d"], "ladder_lease": template["lease"],
                      "ladder_max_attempts": 5, "ladder_sla_minutes": template["sla_minutes"],
                      "ladder_fast_sla_minutes": template["fast_sla_minutes"]}
    config.write_text("")
    rows = cli_nodb("--config", str(config), "config", "show", "--json").json
    assert {r["setting"][len("ladder_"):]: r["value"] for r in rows
            if r["setting"].startswith("ladder_")} == template


def test_every_ladder_setting_is_a_key_the_config_file_accepts():
    from valhalla_cli.settings import CONFIG_SCHEMA, LadderSettings

    assert list(LadderSettings().as_table()) == list(CONFIG_SCHEMA["ladder"])
