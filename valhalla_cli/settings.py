"""Settings, resolved in one place: flags > VALHALLA_* environment > TOML file > defaults.

This is the only module that reads `os.environ`. It imports nothing heavy so that
`--help` and shell completion stay fast.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from valhalla_cli.errors import ConfigError

DEFAULT_BUSINESS_TIMEZONE = "America/Toronto"

# Every key the config file may hold: section -> key -> (type, what is expected)
CONFIG_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "database": {"url": (str, "a SQLAlchemy URL string, e.g. 'sqlite:////path/valhalla.db'")},
    "operator": {"name": (str, "a non-empty string naming the operator")},
    "business": {
        "timezone": (str, "an IANA time zone name, e.g. 'America/Toronto'"),
        "name": (str, "the business name every text identifies, e.g. 'Maple Home Buyers'"),
        "callback": (str, "a Canadian phone number texts give for reaching the business"),
        "website": (str, "the business's web address, e.g. 'https://example.ca'"),
    },
    "golive": {"enforce": (bool, "true or false")},
    "ladder": {
        "steps": (list, "a list of 'CHANNEL OFFSET' strings, e.g. ['SMS 0m', 'CALL 5m']"),
        "lease": (str, "a duration such as '15m', '2h' or '1d'"),
        "max_attempts": (int, "a whole number of at least 1"),
        "sla_minutes": (int, "a whole number of minutes"),
        "fast_sla_minutes": (int, "a whole number of minutes"),
    },
    "api": {
        "twilio_auth_token": (str, "the SMS provider account's auth token, a string"),
        "public_url": (str, "the server's public base URL, e.g. 'https://valhalla.example.com'"),
    },
    "sender": {
        "provider": (str, "'twilio' or 'log'"),
        "max_per_second": ((int, float), "a number of messages a second above 0, e.g. 1.0"),
        "max_run_seconds": ((int, float), "a number of seconds above 0, e.g. 55"),
    },
    "twilio": {
        "account_sid": (str, "the account's SID, 'AC' followed by letters and digits"),
        "auth_token": (str, "the account's auth token, a non-empty string"),
        "from": (str, "the sending number in E.164, e.g. '+14165550100'"),
        "messaging_service_sid": (str, "a messaging service SID, 'MG' followed by letters and "
                                  "digits"),
        "status_callback_url": (str, "an http(s) URL, e.g. "
                                "'https://ops.example.ca/api/webhooks/sms/status'"),
        "api_base": (str, "an http(s) base URL, e.g. 'https://api.twilio.com'"),
        "voice_from": (str, "a calling number in E.164, e.g. '+14165550100'"),
    },
}

SENDER_PROVIDERS = ("twilio", "log")
DEFAULT_MAX_PER_SECOND = 1.0
DEFAULT_MAX_RUN_SECONDS = 55.0
DEFAULT_TWILIO_API_BASE = "https://api.twilio.com"


def debug_enabled() -> bool:
    """True when the user asked for tracebacks with VALHALLA_DEBUG=1."""
    return os.environ.get("VALHALLA_DEBUG", "") not in ("", "0")


def default_config_path() -> Path:
    """`typer.get_app_dir("valhalla")/config.toml`, honouring XDG_CONFIG_HOME."""
    import typer

    return Path(typer.get_app_dir("valhalla")) / "config.toml"


def config_location(flag: str | None, env: Mapping[str, str]) -> tuple[Path, str]:
    """Where the config file is, and why: `--config`, else VALHALLA_CONFIG, else the default
    path (which need not exist). A blank flag or variable is bad input, as for every setting."""
    from_env = env.get("VALHALLA_CONFIG")
    _refuse_blank(config=flag, db=None, actor=None, env={"VALHALLA_CONFIG": from_env})
    if flag is not None:
        return Path(flag), "flag"
    if from_env is not None:
        return Path(from_env), "env"
    return default_config_path(), "default"


def default_database_path() -> Path:
    """`valhalla.db` in the user data directory, honouring XDG_DATA_HOME."""
    import platformdirs

    return Path(platformdirs.user_data_dir("valhalla", appauthor=False)) / "valhalla.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still audit something honest
        return "unknown"


@dataclass(frozen=True)
class LadderSettings:
    """The [ladder] table. Each default is written here only: reading a config file, the
    starting template (`valhalla config init`) and `valhalla config` take the keys and the
    defaults from these fields."""

    steps: tuple[str, ...] = ("SMS 0m", "CALL 5m", "SMS 1d", "CALL 2d", "SMS 4d", "CALL 7d")
    lease: str = "15m"
    max_attempts: int = 3
    sla_minutes: int = 120
    fast_sla_minutes: int = 30

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> LadderSettings:
        """The [ladder] table of a config file (its keys and types already checked against
        CONFIG_SCHEMA); a key it leaves out keeps its default."""
        values = dict(table)
        if "steps" in values:
            values["steps"] = tuple(values["steps"])
        return cls(**values)

    def as_table(self) -> dict[str, Any]:
        """The settings as the config file writes them, in field order (steps as a list)."""
        return {f.name: list(value) if isinstance(value := getattr(self, f.name), tuple)
                else value for f in fields(self)}


@dataclass(frozen=True)
class ApiSettings:
    """`valhalla serve`: the webhook's signing key and the URL the provider calls."""

    twilio_auth_token: str | None = None
    public_url: str | None = None


@dataclass(frozen=True)
class SenderSettings:
    """`valhalla send`: which provider sends texts (None: no provider, the ladder hands texts
    to a sender of the operator's) and the pace of a run."""

    provider: str | None = None
    max_per_second: float = DEFAULT_MAX_PER_SECOND
    max_run_seconds: float = DEFAULT_MAX_RUN_SECONDS


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str | None = None
    auth_token: str | None = None
    from_number: str | None = None
    messaging_service_sid: str | None = None
    status_callback_url: str | None = None
    api_base: str = DEFAULT_TWILIO_API_BASE
    voice_from: str | None = None

    @property
    def sender(self) -> str | None:
        """What a message's `From` is: the number, or the messaging service."""
        return self.from_number or self.messaging_service_sid


@dataclass(frozen=True)
class Settings:
    """The resolved settings, and for each the source it came from."""

    config_path: Path
    database_url: str
    actor: str
    business_timezone: str
    golive_enforce: bool
    ladder: LadderSettings = field(default_factory=LadderSettings)
    # [business] identification that every text carries; None = not configured
    business_name: str | None = None
    business_callback: str | None = None  # E.164
    business_website: str | None = None
    quiet: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    api: ApiSettings = field(default_factory=lambda: ApiSettings())
    sender: SenderSettings = field(default_factory=lambda: SenderSettings())
    twilio: TwilioSettings = field(default_factory=lambda: TwilioSettings())

    @property
    def is_default_database(self) -> bool:
        return self.sources.get("database_url") == "default"


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse and validate the TOML file; a missing file is an empty configuration."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for section, values in data.items():
        if section not in CONFIG_SCHEMA:
            known = ", ".join(sorted(CONFIG_SCHEMA))
            raise ConfigError(f"config file {path}: unknown section [{section}] (known: {known})")
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path}: '{section}' must be a table [{section}]")
        for key, value in values.items():
            schema = CONFIG_SCHEMA[section]
            if key not in schema:
                known = ", ".join(sorted(schema))
                raise ConfigError(
                    f"config file {path}: unknown key '{section}.{key}' (known: {known})"
                )
            expected_type, expected = schema[key]
            # bool is a subclass of int: a `true` where a number is expected is still wrong
            wrong_bool = isinstance(value, bool) and expected_type is not bool
            if wrong_bool or not isinstance(value, expected_type):
                raise ConfigError(f"config file {path}: '{section}.{key}' must be {expected}")
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                raise ConfigError(f"config file {path}: '{section}.{key}' must be {expected}")
    return data


# The variables that select something; set but empty, each would silently fall back to a
# default (another database, another config file, another actor), so it is bad input instead.
_ENV_SETTINGS = ("VALHALLA_CONFIG", "VALHALLA_DATABASE_URL", "VALHALLA_ACTOR",
                 "VALHALLA_GOLIVE_ENFORCE")


def _refuse_blank(*, config: str | None, db: str | None, actor: str | None,
                  env: Any) -> None:
    from valhalla_cli.inputs import check_not_blank

    for flag, value in (("--config", config), ("--db", db), ("--actor", actor)):
        # `--db " "` is not empty: it goes on to be refused as a malformed URL (exit 3).
        if flag != "--db" or value == "":
            check_not_blank(value, field=flag)
    for name in _ENV_SETTINGS:
        value = env.get(name)
        if value is not None and not value.strip():
            from valhalla_cli.errors import BadInput

            raise BadInput(f"environment variable {name} is set but empty: unset it or give "
                           "a value")


def _env_bool(name: str, value: str) -> bool:
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"environment variable {name} must be 0 or 1, not {value!r}")


def _checked_actor(name: str, source: str, config_path: Path) -> str:
    """The actor goes into every audit row (VARCHAR(200)): a flag that does not fit is bad input
    (exit 2), an environment variable or config key that does not is a configuration error."""
    from valhalla_cli.errors import BadInput
    from valhalla_cli.inputs import parse_text

    where = {"flag": "--actor", "env": "VALHALLA_ACTOR"}.get(source, "operator.name")
    try:
        checked = parse_text(name, field=where, required=True)
    except BadInput as exc:
        if source == "flag":
            raise
        prefix = f"{config_path}: " if source == "file" else ""
        raise ConfigError(prefix + exc.message) from None
    assert checked is not None
    return checked


def resolve_settings(
    *,
    config: str | None = None,
    db: str | None = None,
    actor: str | None = None,
    quiet: bool = False,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve every setting with its source. Flags are the keyword arguments."""
    env = os.environ if environ is None else environ
    sources: dict[str, str] = {}
    _refuse_blank(config=config, db=db, actor=actor, env=env)

    config_path, sources["config_path"] = config_location(config, env)
    try:
        config_exists = config_path.exists()
    except OSError as exc:  # a name too long, a path through a file
        from valhalla_cli.errors import shown_path

        raise ConfigError(f"config file {shown_path(config_path)} cannot be read: "
                          f"{exc.strerror}") from None
    if sources["config_path"] != "default" and not config_exists:
        raise ConfigError(f"config file {config_path} does not exist")
    data = read_config_file(config_path)

    def pick(flag_value: Any, env_name: str | None, section: str, key: str, default: Any) -> Any:
        name = key if section in ("database", "operator", "business") else f"{section}_{key}"
        setting = {"database": "database_url", "operator": "actor"}.get(section, name)
        if flag_value is not None:
            sources[setting] = "flag"
            return flag_value
        if env_name and env.get(env_name) is not None:
            sources[setting] = "env"
            return env[env_name]
        if key in data.get(section, {}):
            sources[setting] = "file"
            return data[section][key]
        sources[setting] = "default"
        return default() if callable(default) else default

    database_url = pick(db, "VALHALLA_DATABASE_URL", "database", "url", default_database_url)
    actor_name = pick(actor, "VALHALLA_ACTOR", "operator", "name", _os_user)
    if not str(actor_name).strip():
        raise ConfigError("the actor name (--actor, VALHALLA_ACTOR, operator.name) is empty")
    actor_name = _checked_actor(str(actor_name), sources["actor"], config_path)
    business_tz = pick(None, None, "business", "timezone", DEFAULT_BUSINESS_TIMEZONE)
    enforce = pick(None, "VALHALLA_GOLIVE_ENFORCE", "golive", "enforce", True)
    if isinstance(enforce, str):
        enforce = _env_bool("VALHALLA_GOLIVE_ENFORCE", enforce)

    ladder_data = data.get("ladder", {})
    ladder = LadderSettings.from_table(ladder_data)
    sources["ladder"] = "file" if ladder_data else "default"
    api_data = data.get("api", {})
    sources["api"] = "file" if api_data else "default"
    sender, twilio = _sender_settings(config_path, data, env, sources)
    api = ApiSettings(twilio_auth_token=twilio.auth_token,
                      public_url=(api_data.get("public_url") or "").rstrip("/") or None)

    _check_timezone_name(config_path, business_tz)
    identity: dict[str, str | None] = {}
    for key in ("name", "callback", "website"):
        env_name = f"VALHALLA_BUSINESS_{key.upper()}"
        if env.get(env_name, "").strip():
            identity[key], sources[f"business_{key}"] = env[env_name].strip(), "env"
        elif str(data.get("business", {}).get(key, "")).strip():
            identity[key], sources[f"business_{key}"] = data["business"][key].strip(), "file"
        else:
            identity[key], sources[f"business_{key}"] = None, "default"
    if identity["callback"] is not None:
        identity["callback"] = _check_callback(config_path, identity["callback"],
                                               sources["business_callback"])
    return Settings(
        config_path=config_path,
        database_url=str(database_url),
        actor=str(actor_name).strip(),
        business_timezone=business_tz,
        golive_enforce=bool(enforce),
        ladder=ladder,
        business_name=identity["name"],
        business_callback=identity["callback"],
        business_website=identity["website"],
        quiet=quiet,
        sources=sources,
        api=api,
        sender=sender,
        twilio=twilio,
    )


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SID = re.compile(r"^[A-Za-z0-9]+$")


def _sender_settings(config_path: Path, data: dict[str, Any], env: Any,
                     sources: dict[str, str]) -> tuple[SenderSettings, TwilioSettings]:
    """[sender] and [twilio] with VALHALLA_SENDER_PROVIDER, VALHALLA_TWILIO_ACCOUNT_SID and
    VALHALLA_TWILIO_AUTH_TOKEN; `[api] twilio_auth_token` is the auth token's older name.
    A malformed value, or a provider without what it needs to send, is a configuration error
    naming the key."""
    sender_data = data.get("sender", {})
    twilio_data = data.get("twilio", {})
    api_data = data.get("api", {})

    def where(key: str, env_name: str | None = None) -> str:
        if env_name and sources.get(key) == "env":
            return f"environment variable {env_name}"
        return f"config file {config_path}: '{key.replace('_', '.', 1)}'"

    def fault(key: str, expected: str, env_name: str | None = None) -> ConfigError:
        return ConfigError(f"{where(key, env_name)} must be {expected}")

    def from_env_or_file(key: str, env_name: str | None, table: dict[str, Any], name: str
                         ) -> Any:
        if env_name and env.get(env_name) is not None:
            sources[key] = "env"
            return env[env_name].strip()
        if name in table:
            sources[key] = "file"
            return table[name]
        sources[key] = "default"
        return None

    provider = from_env_or_file("sender_provider", "VALHALLA_SENDER_PROVIDER", sender_data,
                                "provider")
    if provider is not None:
        provider = str(provider).strip().lower()
        if provider not in SENDER_PROVIDERS:
            raise fault("sender_provider", "'twilio' or 'log'", "VALHALLA_SENDER_PROVIDER")
    pace: dict[str, float] = {}
    for key, default in (("max_per_second", DEFAULT_MAX_PER_SECOND),
                         ("max_run_seconds", DEFAULT_MAX_RUN_SECONDS)):
        value = sender_data.get(key, default)
        sources[f"sender_{key}"] = "file" if key in sender_data else "default"
        if not 0 < float(value) <= 10_000:
            raise fault(f"sender_{key}", "a number above 0 (at most 10000)")
        pace[key] = float(value)

    account_sid = from_env_or_file("twilio_account_sid", "VALHALLA_TWILIO_ACCOUNT_SID",
                                   twilio_data, "account_sid")
    token = from_env_or_file("twilio_auth_token", "VALHALLA_TWILIO_AUTH_TOKEN", twilio_data,
                             "auth_token")
    if token is None and api_data.get("twilio_auth_token"):
        token, sources["twilio_auth_token"] = api_data["twilio_auth_token"], "file (deprecated " \
            "name api.twilio_auth_token)"
    if token is not None and not str(token).strip():
        raise fault("twilio_auth_token", "a non-empty string", "VALHALLA_TWILIO_AUTH_TOKEN")
    if account_sid is not None and not (str(account_sid).startswith("AC")
                                        and _SID.match(str(account_sid))):
        raise fault("twilio_account_sid", CONFIG_SCHEMA["twilio"]["account_sid"][1],
                    "VALHALLA_TWILIO_ACCOUNT_SID")
    values: dict[str, str | None] = {}
    for key in ("from", "messaging_service_sid", "status_callback_url", "api_base",
                "voice_from"):
        raw = twilio_data.get(key)
        sources[f"twilio_{key}"] = "file" if key in twilio_data else "default"
        value = raw.strip() if isinstance(raw, str) else None
        if raw is not None and not value:
            raise fault(f"twilio_{key}", CONFIG_SCHEMA["twilio"][key][1])
        if value is not None:
            ok = {"from": lambda v: bool(_E164.match(v)),
                  "voice_from": lambda v: bool(_E164.match(v)),
                  "messaging_service_sid": lambda v: v.startswith("MG") and bool(_SID.match(v)),
                  "status_callback_url": _is_http_url,
                  "api_base": _is_http_url}[key](value)
            if not ok:
                raise fault(f"twilio_{key}", CONFIG_SCHEMA["twilio"][key][1])
        values[key] = value
    twilio = TwilioSettings(
        account_sid=account_sid, auth_token=token, from_number=values["from"],
        messaging_service_sid=values["messaging_service_sid"],
        status_callback_url=values["status_callback_url"],
        api_base=(values["api_base"] or DEFAULT_TWILIO_API_BASE).rstrip("/"),
        voice_from=values["voice_from"])
    if provider == "twilio":
        if not token:
            raise ConfigError("sender.provider is 'twilio' but twilio.auth_token is not set "
                              f"(config file {config_path} or VALHALLA_TWILIO_AUTH_TOKEN)")
        if not account_sid:
            raise ConfigError("sender.provider is 'twilio' but twilio.account_sid is not set "
                              f"(config file {config_path} or VALHALLA_TWILIO_ACCOUNT_SID)")
        if not twilio.sender:
            raise ConfigError("sender.provider is 'twilio' but neither twilio.from nor "
                              f"twilio.messaging_service_sid is set (config file {config_path})")
    return SenderSettings(provider, pace["max_per_second"], pace["max_run_seconds"]), twilio


def _is_http_url(value: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def _check_callback(config_path: Path, value: str, source: str) -> str:
    from valhalla_cli.errors import BadInput
    from valhalla_cli.phones import parse_phone

    try:
        return parse_phone(value, option="business.callback")
    except BadInput:
        where = ("VALHALLA_BUSINESS_CALLBACK" if source == "env"
                 else f"config file {config_path}: 'business.callback'")
        raise ConfigError(f"{where} must be a valid Canadian phone number, not {value!r}"
                          ) from None


def _check_timezone_name(config_path: Path, name: str) -> None:
    from valhalla_cli.tz import is_valid_zone

    if not is_valid_zone(name):
        raise ConfigError(
            f"config file {config_path}: 'business.timezone' must be an IANA time zone name, "
            f"not {name!r}"
        )


_SECRET_QUERY_KEY = re.compile(r"pass|pwd|secret|token|key", re.IGNORECASE)


def mask_url_password(url: str) -> str:
    """Hide every password form of a database URL: the user-info's (`user:***@host`, also when
    the password holds an unencoded `@`) and a query's (`?password=***`, `sslpassword`, ...)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    location, qmark, query = rest.partition("?")
    if "@" in location:
        credentials, _, host = location.rpartition("@")
        user, colon, _password = credentials.partition(":")
        location = f"{user}:***@{host}" if colon else f"{user}@{host}"
    if qmark:
        pairs = []
        for pair in query.split("&"):
            key, eq, _value = pair.partition("=")
            pairs.append(f"{key}=***" if eq and _SECRET_QUERY_KEY.search(key) else pair)
        query = "&".join(pairs)
    return f"{scheme}://{location}{qmark}{query}"


def export_for_workers(settings: Settings) -> None:
    """Hand the resolved config file and database to server worker processes (which resolve
    their settings again) through the environment, the only channel uvicorn passes on."""
    # Without a config file the workers must not be told about one: an empty VALHALLA_CONFIG
    # is refused as bad input, so a server configured by flags and environment alone would
    # never start. They fall back to the same default path the server itself looked at.
    if settings.config_path.exists():
        os.environ["VALHALLA_CONFIG"] = str(settings.config_path)
    else:
        os.environ.pop("VALHALLA_CONFIG", None)
    os.environ["VALHALLA_DATABASE_URL"] = settings.database_url
    os.environ["VALHALLA_ACTOR"] = settings.actor
