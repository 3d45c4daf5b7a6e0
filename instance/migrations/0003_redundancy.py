# Placeholder for the redundancy program (issue 7): operations are added by that change.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("instance", "0002_spy_defences")]

    operations: list = []
