"""The base class of every table: SQLModel, with pydantic's validator and serializer built on
first use instead of when the class is defined.

Rows are read from the database and built by the services; a table model's constructor does not
validate, and nothing here calls `model_validate` or `model_dump` on one. Building the 35
validators a command like `status` never calls cost about 20 ms of its start-up. Should one be
used after all, pydantic builds it then: deferring changes when, never what.
"""

from sqlmodel import SQLModel
from sqlmodel._compat import SQLModelConfig


class TableModel(SQLModel):
    model_config = SQLModelConfig(defer_build=True)
