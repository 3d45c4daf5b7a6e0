# The redundancy models moved to their own app (instance/redundancy, label "redundancy"). Only
# Django's state changes here: the tables stay, and redundancy's 0001_initial takes them over
# under their current names (db_table), rows and all.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("instance", "0006_redundancy_reverify")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="RedundancyCopy"),
                migrations.DeleteModel(name="RedundancyStrategy"),
            ],
            database_operations=[],
        ),
    ]
