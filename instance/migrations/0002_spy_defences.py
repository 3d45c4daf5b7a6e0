# The spy defences: per-address request limits, alarm thresholds and blocks.
import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("instance", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="instancesettings",
            name="alarm_early_announces",
            field=models.PositiveIntegerField(
                default=10,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(100000),
                ],
                verbose_name="alarm: early announces per address",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="alarm_sockets",
            field=models.PositiveIntegerField(
                default=8,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(10000),
                ],
                verbose_name="alarm: connections per address",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="alarm_unknown_videos",
            field=models.PositiveIntegerField(
                default=3,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="alarm: unknown videos per address",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="alarm_videos",
            field=models.PositiveIntegerField(
                default=6,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="alarm: videos per address",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="block_seconds",
            field=models.PositiveIntegerField(
                default=3600,
                validators=[
                    django.core.validators.MinValueValidator(60),
                    django.core.validators.MaxValueValidator(604800),
                ],
                verbose_name="block duration",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="breaches_before_block",
            field=models.PositiveIntegerField(
                default=5,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="breaches before a block",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="guard_window",
            field=models.PositiveIntegerField(
                default=300,
                validators=[
                    django.core.validators.MinValueValidator(60),
                    django.core.validators.MaxValueValidator(86400),
                ],
                verbose_name="counting window",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="max_http_announces_per_video",
            field=models.PositiveIntegerField(
                default=100,
                validators=[
                    django.core.validators.MinValueValidator(2),
                    django.core.validators.MaxValueValidator(100000),
                ],
                verbose_name="HTTP announces per address and video",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="max_http_requests_per_address",
            field=models.PositiveIntegerField(
                default=300,
                validators=[
                    django.core.validators.MinValueValidator(10),
                    django.core.validators.MaxValueValidator(1000000),
                ],
                verbose_name="HTTP requests per address",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="max_messages_per_address",
            field=models.PositiveIntegerField(
                default=600,
                validators=[
                    django.core.validators.MinValueValidator(10),
                    django.core.validators.MaxValueValidator(1000000),
                ],
                verbose_name="messages per address per minute",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="max_messages_per_socket",
            field=models.PositiveIntegerField(
                default=120,
                validators=[
                    django.core.validators.MinValueValidator(10),
                    django.core.validators.MaxValueValidator(100000),
                ],
                verbose_name="messages per connection per minute",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="max_sockets_per_address",
            field=models.PositiveIntegerField(
                default=16,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(10000),
                ],
                verbose_name="connections per address",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="max_videos_at_once",
            field=models.PositiveIntegerField(
                default=3,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="videos at once per address",
            ),
        ),
        migrations.AddField(
            model_name="instancesettings",
            name="max_videos_per_address",
            field=models.PositiveIntegerField(
                default=8,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="videos per address",
            ),
        ),
    ]
