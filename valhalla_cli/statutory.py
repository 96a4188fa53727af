"""The statutory holidays of Canada's provinces and territories, from the `holidays` package.

`holidays.country_holidays("CA", ...)` imports `holidays.countries`, whose `__init__` imports
the calendars of all 250 countries: 0.13 s of CPU on every command that asks whether a day is a
holiday, to read one of them. This loads the Canada calendar's own module instead (it imports
only the package's shared parts, never `holidays.countries`), once per process. A test checks
the answers are the package's own, province by province.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

_MODULE = "valhalla_cli._holidays_canada"


@lru_cache(maxsize=1)
def _canada() -> Any:
    import holidays

    module = sys.modules.get("holidays.countries.canada")  # already loaded the usual way
    if module is None:
        path = Path(holidays.__file__).parent / "countries" / "canada.py"
        spec = importlib.util.spec_from_file_location(_MODULE, path)
        if spec is None or spec.loader is None:  # a future layout: take the documented road
            return holidays.country_holidays("CA").__class__
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.Canada


def holidays_of(province: str, year: int) -> Any:
    """The province's statutory holidays (observed days included) for a year: a mapping of
    date to name, as `holidays.country_holidays("CA", subdiv=province, years=year)`."""
    return _canada()(subdiv=province, years=year)
