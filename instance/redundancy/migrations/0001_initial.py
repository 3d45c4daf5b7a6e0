# The redundancy models, taken over from the instance app (instance/migrations 0003 and 0006
# created their tables there). State only: the tables keep their names (db_table), so an existing
# database keeps its strategies and copies without a copy or a rename of a table, and a new one
# gets the tables from instance's migrations as before.
import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

MODELS = ("redundancystrategy", "redundancycopy")


def _relabel(apps, schema_editor, old: str, new: str) -> None:
    # The content types follow the models, and with them the permissions and admin log entries
    # that point at them. A new database has none yet (post_migrate creates them afterwards).
    content_types = apps.get_model("contenttypes", "ContentType").objects.db_manager(
        schema_editor.connection.alias
    )
    for model in MODELS:
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)
    content_types.clear_cache()


def content_types_to_redundancy(apps, schema_editor):
    _relabel(apps, schema_editor, "instance", "redundancy")


def content_types_to_instance(apps, schema_editor):
    _relabel(apps, schema_editor, "redundancy", "instance")


STRATEGY_CHOICES = [
    ("most-views", "Most views"),
    ("trending", "Trending"),
    ("recently-added", "Recently added"),
]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("instance", "0007_redundancy_own_app"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RedundancyStrategy",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "name",
                            models.CharField(choices=STRATEGY_CHOICES, max_length=20, unique=True),
                        ),
                        ("enabled", models.BooleanField(default=False)),
                        (
                            "size_budget",
                            models.PositiveBigIntegerField(
                                default=10737418240,
                                help_text="Bytes that this strategy's copies may take.",
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
                        "db_table": "instance_redundancystrategy",
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="RedundancyCopy",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("strategy", models.CharField(choices=STRATEGY_CHOICES, max_length=20)),
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
                        ("verified_at", models.DateTimeField(blank=True, null=True)),
                        ("verify_cursor", models.PositiveIntegerField(default=0)),
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
                        "db_table": "instance_redundancycopy",
                        "ordering": ["-created", "-id"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_redundancy, content_types_to_instance),
    ]
