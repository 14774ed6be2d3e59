"""The sample shop deployed by Slipway's tests and demo.

PyMySQL stands in for mysqlclient (pure Python: nothing to compile on the
host), and the Celery app is loaded with Django so `@shared_task` binds to it.
"""
import pymysql

pymysql.install_as_MySQLdb()

from .celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
