"""Parameters several endpoints share, named as the CLI options they mirror."""

from valhalla_cli.api.routing import Param

AT = Param("at", help="Evaluate at this instant (ISO 8601; without an offset it is business "
           "local time). Default: now.")
REASON = Param("reason", required=True, help="Why (recorded in the audit log).")
OPTIONAL_REASON = Param("reason", help="Why (recorded in the audit log).")
PROVINCE = Param("province", required=True, help="Province or territory code, e.g. ON.")
PROVINCE_FILTER = Param("province", help="Only this province.")
MARKET = Param("market", help="Market name, e.g. TORONTO.")
ENABLED = Param("enabled", "bool", help="Enable (true) or disable (false).")
DRY_RUN = Param("dry_run", "bool", default=False, help="Show what would change; change nothing.")


def limit(default: int) -> Param:
    return Param("limit", "int", default=default, minimum=1, help="At most this many.")
