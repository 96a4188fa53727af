"""The configuration file: the starting template, writing it atomically, describing settings."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from valhalla_cli.errors import BadInput, path_error, shown_path
from valhalla_cli.services.contact_rules import Reason
from valhalla_cli.settings import (
    DEFAULT_BUSINESS_TIMEZONE,
    DEFAULT_MAX_PER_SECOND,
    DEFAULT_MAX_RUN_SECONDS,
    DEFAULT_TWILIO_API_BASE,
    LadderSettings,
    Settings,
    mask_url_password,
)

_SECTIONS: list[tuple[str, list[str], dict[str, object]]] = [
    ("database", [
        "Where the data lives. Default: SQLite file valhalla.db in the XDG data directory.",
        "For a team, PostgreSQL through psycopg 3. Overridden by --db and VALHALLA_DATABASE_URL.",
        '@# url = "postgresql+psycopg://valhalla:secret@db.internal/valhalla"',
    ], {}),
    ("operator", [
        "Who acts, for the audit log. Default: the OS user name. Overridden by --actor and",
        "VALHALLA_ACTOR.",
        '@# name = "alice"',
    ], {}),
    ("business", [
        "The business time zone defines 'today' for loss caps, reports and --at values given",
        "without an offset. name and callback (a phone number) identify the sender in every",
        f"text (CASL); until both are set, dispatch holds SMS tasks ({Reason.NO_IDENTIFICATION}).",
        "Overridden by VALHALLA_BUSINESS_NAME, _CALLBACK and _WEBSITE.",
        '@# name = "Maple Home Buyers"',
        '@# callback = "+1 416 555 0100"',
        '@# website = "https://maplehomebuyers.example"',
    ], {"timezone": DEFAULT_BUSINESS_TIMEZONE}),
    ("golive", [
        "Go-live enforcement. Turn off only on a development machine: commands then warn and",
        "act as if live. Overridden by VALHALLA_GOLIVE_ENFORCE=0/1.",
    ], {"enforce": True}),
    ("ladder", [
        "The follow-up ladder: steps as 'CHANNEL OFFSET' (m = elapsed minutes, d = days at the",
        "start's local wall-clock time), the dispatch lease, how many expired leases make a task",
        "failed, and the SLA thresholds in minutes.",
    ], LadderSettings().as_table()),
    ("api", [
        "valhalla serve: the SMS provider's auth token, which signs its webhook requests",
        "(X-Twilio-Signature), and the public base URL the provider calls when the server sits",
        "behind a proxy (the signature covers the URL as the provider saw it).",
        '@# twilio_auth_token = "your-twilio-auth-token"',
        '@# public_url = "https://valhalla.example.com"',
    ], {}),
    ("sender", [
        "valhalla send: the SMS provider ('twilio', or 'log' to print messages instead of",
        "sending them). Unset, the ladder hands texts to a sender of yours (ladder dispatch).",
        "max_per_second paces a run; a run claims nothing new after max_run_seconds.",
        "Overridden by VALHALLA_SENDER_PROVIDER.",
        '@# provider = "twilio"',
        f"@# max_per_second = {DEFAULT_MAX_PER_SECOND}",
        f"@# max_run_seconds = {DEFAULT_MAX_RUN_SECONDS:g}",
    ], {}),
    ("twilio", [
        "The Twilio account that sends texts; auth_token also signs Twilio's webhooks (it",
        "replaces [api] twilio_auth_token). from is a number of the account, or give",
        "messaging_service_sid. Overridden by VALHALLA_TWILIO_ACCOUNT_SID and",
        "VALHALLA_TWILIO_AUTH_TOKEN.",
        '@# account_sid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        '@# auth_token = "your-twilio-auth-token"',
        '@# from = "+14165550100"',
        '@# messaging_service_sid = "MGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        '@# status_callback_url = "https://ops.example.ca/api/webhooks/sms/status"',
        f'@# api_base = "{DEFAULT_TWILIO_API_BASE}"',
        '@# voice_from = "+14165550100"',
    ], {}),
]


def config_template() -> str:
    """The commented starting file (also committed as config.example.toml)."""
    parts = [
        "# Valhalla configuration. Precedence: command-line flags > VALHALLA_* environment >",
        "# this file > built-in defaults. Policies (caps, windows, thresholds) live in the",
        "# database and change through audited commands, not here.",
        "",
    ]
    for section, comments, values in _SECTIONS:
        # Lines starting with '@' are commented-out examples that belong under the header.
        parts.extend(f"# {c}" for c in comments if not c.startswith("@"))
        body = tomli_w.dumps({section: values}, multiline_strings=False, indent=4)
        parts.append(body.rstrip("\n") if values else f"[{section}]")
        parts.extend(c[1:] for c in comments if c.startswith("@"))
        parts.append("")
    return "\n".join(parts)


def write_config(path: Path, *, force: bool) -> Path:
    """Write the template atomically; refuse to overwrite an existing file without force.

    The text goes to a temporary file beside the target, renamed into place; whatever fails
    (a full disk, a path too long) removes the temporary file again.
    """
    try:
        exists = path.exists()
    except OSError as exc:
        raise path_error(exc, path, doing="write") from None
    if exists and not force:
        raise BadInput(f"{shown_path(path)} already exists: pass --force to overwrite it")
    tmp: str | None = None
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(config_template())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for folder in made:  # the folders this call made, deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise path_error(exc, path, doing="write") from None
        raise
    return path


@dataclass(frozen=True)
class SettingView:
    setting: str
    value: object
    source: str


def describe(settings: Settings) -> list[SettingView]:
    s = settings.sources
    return [
        SettingView("config_path", str(settings.config_path), s.get("config_path", "default")),
        SettingView("database_url", mask_url_password(settings.database_url),
                    s.get("database_url", "default")),
        SettingView("actor", settings.actor, s.get("actor", "default")),
        SettingView("business_timezone", settings.business_timezone,
                    s.get("timezone", "default")),
        SettingView("business_name", settings.business_name,
                    s.get("business_name", "default")),
        SettingView("business_callback", settings.business_callback,
                    s.get("business_callback", "default")),
        SettingView("business_website", settings.business_website,
                    s.get("business_website", "default")),
        SettingView("golive_enforce", settings.golive_enforce, s.get("golive_enforce",
                                                                     "default")),
        *(SettingView(f"ladder_{key}", value, s.get("ladder", "default"))
          for key, value in settings.ladder.as_table().items()),
        SettingView("api_twilio_auth_token",
                    "***" if settings.api.twilio_auth_token else None,
                    "deprecated: the second name of twilio.auth_token" if s.get(
                        "twilio_auth_token", "").startswith("file (deprecated") else
                    s.get("api", "default")),
        SettingView("api_public_url", settings.api.public_url, s.get("api", "default")),
        SettingView("sender_provider", settings.sender.provider,
                    s.get("sender_provider", "default")),
        SettingView("sender_max_per_second", settings.sender.max_per_second,
                    s.get("sender_max_per_second", "default")),
        SettingView("sender_max_run_seconds", settings.sender.max_run_seconds,
                    s.get("sender_max_run_seconds", "default")),
        SettingView("twilio_account_sid", settings.twilio.account_sid,
                    s.get("twilio_account_sid", "default")),
        SettingView("twilio_auth_token", "***" if settings.twilio.auth_token else None,
                    s.get("twilio_auth_token", "default")),
        SettingView("twilio_from", settings.twilio.from_number, s.get("twilio_from", "default")),
        SettingView("twilio_messaging_service_sid", settings.twilio.messaging_service_sid,
                    s.get("twilio_messaging_service_sid", "default")),
        SettingView("twilio_status_callback_url", settings.twilio.status_callback_url,
                    s.get("twilio_status_callback_url", "default")),
        SettingView("twilio_api_base", settings.twilio.api_base,
                    s.get("twilio_api_base", "default")),
        SettingView("twilio_voice_from", settings.twilio.voice_from,
                    s.get("twilio_voice_from", "default")),
    ]
