# The cap on HTTP peers one address holds in one swarm (tracker.core.config.TrackerConfig):
# existing rows take the core's default.
import django.core.validators
from django.db import migrations, models

from tracker.core import TrackerConfig


class Migration(migrations.Migration):
    dependencies = [("instance", "0004_video_burst_two")]

    operations = [
        migrations.AddField(
            model_name="instancesettings",
            name="max_http_peers_per_address",
            field=models.PositiveIntegerField(
                default=TrackerConfig.max_http_peers_per_address,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="HTTP peers per address and swarm",
            ),
        ),
    ]
