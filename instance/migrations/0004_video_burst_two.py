# Spy defences: 2 new videos at once per address by default, not 3, which let a
# crawler spread over 5 addresses learn more than 5% of who watches what before its block.
import django.core.validators
from django.db import migrations, models

OLD_DEFAULT, NEW_DEFAULT = 3, 2


def lower_old_default(apps, schema_editor):
    # A row at 3 (the old default, or chosen: the two cannot be told apart) takes 2; any other
    # value an admin chose stays.
    settings = apps.get_model("instance", "InstanceSettings")
    settings.objects.filter(max_videos_at_once=OLD_DEFAULT).update(max_videos_at_once=NEW_DEFAULT)


class Migration(migrations.Migration):
    dependencies = [("instance", "0003_redundancy")]

    operations = [
        migrations.AlterField(
            model_name="instancesettings",
            name="max_videos_at_once",
            field=models.PositiveIntegerField(
                default=NEW_DEFAULT,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="videos at once per address",
            ),
        ),
        # Going back leaves the rows as they are (2 is a valid value either way).
        migrations.RunPython(lower_old_default, migrations.RunPython.noop),
    ]
