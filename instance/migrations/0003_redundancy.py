# The redundancy program: per-day views, strategies, copies.
import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

STRATEGIES = ("most-views", "trending", "recently-added")


def create_strategies(apps, schema_editor):
    # The three strategies exist from the start, switched off: an admin turns them on.
    strategy = apps.get_model("instance", "RedundancyStrategy")
    for name in STRATEGIES:
        strategy.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("instance", "0002_spy_defences")]

    operations = [
        migrations.CreateModel(
            name="RedundancyStrategy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        choices=[
                            ("most-views", "Most views"),
                            ("trending", "Trending"),
                            ("recently-added", "Recently added"),
                        ],
                        max_length=20,
                        unique=True,
                    ),
                ),
                ("enabled", models.BooleanField(default=False)),
                (
                    "size_budget",
                    models.PositiveBigIntegerField(
                        default=10737418240, help_text="Bytes that this strategy's copies may take."
                    ),
                ),
                (
                    "min_lifetime_hours",
                    models.PositiveIntegerField(
                        default=48,
                        help_text="Hours a published copy is kept before a better candidate may replace it.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(8760),
                        ],
                    ),
                ),
                (
                    "trending_days",
                    models.PositiveSmallIntegerField(
                        default=7,
                        help_text="Trending: views of the last this many days (today included) count.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(365),
                        ],
                    ),
                ),
                (
                    "min_views",
                    models.PositiveIntegerField(
                        default=10,
                        help_text="Recently added: only videos with at least this many views.",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "redundancy strategies",
                "ordering": ["id"],
            },
        ),
        migrations.CreateModel(
            name="RedundancyCopy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "strategy",
                    models.CharField(
                        choices=[
                            ("most-views", "Most views"),
                            ("trending", "Trending"),
                            ("recently-added", "Recently added"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("downloading", "Downloading"),
                            ("verifying", "Verifying"),
                            ("published", "Published"),
                            ("expired", "Expired"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=12,
                    ),
                ),
                ("state_changed", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "reason",
                    models.CharField(
                        blank=True, help_text="Why it failed or expired.", max_length=300
                    ),
                ),
                ("bytes_done", models.PositiveBigIntegerField(default=0)),
                ("claim", models.CharField(blank=True, max_length=32)),
                ("heartbeat", models.DateTimeField(blank=True, null=True)),
                ("published_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("peer_id", models.CharField(blank=True, max_length=20)),
                ("next_announce_at", models.DateTimeField(blank=True, null=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "video_file",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="redundancy_copy",
                        to="instance.videofile",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "redundancy copies",
                "ordering": ["-created", "-id"],
            },
        ),
        migrations.CreateModel(
            name="VideoViewDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("views", models.PositiveIntegerField(default=0)),
                (
                    "video",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="view_days",
                        to="instance.video",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("video", "day"), name="one_row_per_day")
                ],
            },
        ),
        migrations.RunPython(create_strategies, migrations.RunPython.noop),
    ]
