# Re-verification of published redundancy copies: when each last matched the torrent, and where
# the next check's window of pieces starts (instance/redundancy/verify.py).
from django.db import migrations, models
from django.db.models import F


def verified_when_published(apps, schema_editor):
    # A copy already published was verified whole just before its publication.
    copies = apps.get_model("instance", "RedundancyCopy")
    copies.objects.filter(state="published").update(verified_at=F("published_at"))


class Migration(migrations.Migration):
    dependencies = [("instance", "0005_http_peers_per_address")]

    operations = [
        migrations.AddField(
            model_name="redundancycopy",
            name="verified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="redundancycopy",
            name="verify_cursor",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(verified_when_published, migrations.RunPython.noop),
    ]
