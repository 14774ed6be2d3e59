"""An order, fulfilled in the background by a Celery task."""
from django.db import models


class Order(models.Model):
    item = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)
    fulfilled_by = models.CharField(max_length=100, blank=True)

    def __str__(self):
        return f"order {self.pk}: {self.item}"
