# Placeholder for the spy-defence settings (issue 6): operations are added by that change.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("instance", "0001_initial")]

    operations: list = []
