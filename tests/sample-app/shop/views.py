"""The health view reports the release; orders go through the database and Celery."""
import json

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


def healthz(request):
    """`release <id>`; with ?db=1 also a database round trip."""
    body = f"release {settings.RELEASE}\n"
    if request.GET.get("db"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        body += "db ok\n"
    return HttpResponse(body, content_type="text/plain")


@csrf_exempt
@require_POST
def order(request):
    """Creates an order and queues its fulfilment."""
    from .models import Order
    from .tasks import fulfil

    item = json.loads(request.body or b"{}").get("item", "widget")
    created = Order.objects.create(item=item)
    result = fulfil.delay(created.pk)
    return JsonResponse(
        {"order": created.pk, "task": result.id, "release": settings.RELEASE}, status=201
    )
