"""Domain errors and the exit codes they map to (see the README, 'Exit codes').

Services raise these; the CLI's entry point turns them into one line on standard error and the
exit code. Nothing here imports anything heavy.
"""

from __future__ import annotations

EXIT_NO = 1
EXIT_BAD_INPUT = 2
EXIT_CONFIG = 3
EXIT_DATABASE = 4
EXIT_INTERNAL = 5

EXIT_CODES_HELP = (
    "Exit codes: 0 success or yes; 1 no (denied, refused, blocked, check failed); "
    "2 bad input, nothing changed; 3 configuration error; "
    "4 database unavailable, locked or schema out of date; "
    "5 internal error (VALHALLA_DEBUG=1 shows the traceback)."
)


class ValhallaError(Exception):
    """Base of every error a user may see. `exit_code` decides the process exit status."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(ValhallaError):
    """The user gave a value that cannot be accepted. Nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(ValhallaError):
    """The configuration file or environment is malformed."""

    exit_code = EXIT_CONFIG


class DatabaseUnavailable(ValhallaError):
    """The database cannot be reached, is locked past the timeout, or is not at head."""

    exit_code = EXIT_DATABASE


class ProviderUnreachable(ValhallaError):
    """The SMS provider could not be reached (timeout, connection error, HTTP 5xx): a machine
    fault like an unreachable database."""

    exit_code = EXIT_DATABASE


class NotFound(BadInput):
    """A named thing (task, reservation, recommendation) does not exist."""


class Refused(ValhallaError):
    """A "no" that carries no structured answer (most refusals return a result with a reason)."""

    exit_code = EXIT_NO

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason


class DiskFault(ValhallaError):
    """The machine, not the input: a full disk, a file that cannot be written (exit 4)."""

    exit_code = EXIT_DATABASE


def shown_path(path: object, limit: int = 120) -> str:
    """A path for a one-line message: a hostile 100 000-character one is shortened to its
    start and end, so the line stays readable."""
    text = str(path)
    if len(text) <= limit:
        return text
    keep = (limit - 30) // 2
    return f"{text[:keep]}…{text[-keep:]} ({len(text)} characters)"


def path_error(exc: OSError, path: object, *, doing: str) -> ValhallaError:
    """The user-facing error for an OSError met while `doing` something with `path`: a full
    disk is exit 4 (free some space), a name too long or a place that cannot be written is bad
    input (exit 2)."""
    import errno

    where = shown_path(path)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFault(f"no space left on the disk of {where}: free some space and run the "
                         "command again")
    if exc.errno == errno.ENAMETOOLONG:
        return BadInput(f"cannot {doing} {where}: the path or one of its names is too long")
    return BadInput(f"cannot {doing} {where}: {exc.strerror or type(exc).__name__}")
