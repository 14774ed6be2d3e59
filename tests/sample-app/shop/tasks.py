"""A task that takes a few seconds, so a worker switch has one in flight."""
import time

from celery import shared_task
from django.conf import settings


@shared_task
def fulfil(order_id, seconds=3.0):
    from .models import Order

    time.sleep(seconds)
    Order.objects.filter(pk=order_id).update(fulfilled_by=settings.RELEASE)
    return settings.RELEASE


@shared_task
def slow(seconds=3.0):
    """No database: the release that finished it."""
    time.sleep(seconds)
    return settings.RELEASE
