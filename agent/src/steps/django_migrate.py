# Run by `slipway-agent step migrate` as `manage.py shell -c` inside the
# release, so the app's own settings, driver and credentials reach the
# database. Hosts deploying at once queue on the database's advisory lock:
# the first applies the migrations, the rest find nothing to apply.
# Parameters come from the environment, never from string formatting.
import os
import sys

from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

alias = os.environ["SLIPWAY_MIGRATE_DATABASE"]
timeout = int(os.environ["SLIPWAY_MIGRATE_LOCK_TIMEOUT"])
connection = connections[alias]
if connection.vendor != "mysql":
    print(
        f"slipway-migrate: error: database {alias!r} is {connection.vendor}; "
        "the advisory lock (GET_LOCK) needs MySQL or MariaDB",
        file=sys.stderr,
    )
    sys.exit(3)
# GET_LOCK names are per server, so the database name keeps two apps on one
# server apart. MySQL caps them at 64 characters.
lock = ("slipway-migrate:" + connection.settings_dict["NAME"])[:64]
with connection.cursor() as cursor:
    print(f"slipway-migrate: waiting for lock {lock} (up to {timeout}s)", flush=True)
    cursor.execute("SELECT GET_LOCK(%s, %s)", [lock, timeout])
    (got,) = cursor.fetchone()
if got != 1:
    print(
        f"slipway-migrate: error: lock {lock} not obtained within {timeout}s "
        "(another host is still migrating)",
        file=sys.stderr,
    )
    sys.exit(4)
try:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    for migration, backwards in plan:
        direction = "unapply" if backwards else "apply"
        print(f"slipway-migrate: to {direction} {migration.app_label}.{migration.name}", flush=True)
    if plan:
        call_command("migrate", database=alias, interactive=False, verbosity=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", [lock])
        (held,) = cursor.fetchone()
    if held != 1:
        # The connection was replaced mid-way, and the lock went with it.
        print(f"slipway-migrate: warning: lock {lock} was lost while migrating", file=sys.stderr)
    print(f"slipway-migrate: done {len(plan)}", flush=True)
finally:
    with connection.cursor() as cursor:
        cursor.execute("SELECT RELEASE_LOCK(%s)", [lock])
