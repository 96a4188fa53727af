"""Alembic environment: always run from code with an open connection (valhalla_cli.migrate).

No logging.fileConfig (there is no ini file, and it would silence the application's loggers) and
no URL in the config (configparser interpolation breaks on '%').
"""

from alembic import context

from valhalla_cli.models import load_all

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `valhalla db upgrade`, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=load_all(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
