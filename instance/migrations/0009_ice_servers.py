from django.db import migrations, models

import instance.ice


class Migration(migrations.Migration):
    dependencies = [("instance", "0008_hls_streaming_playlists")]

    operations = [
        migrations.AddField(
            model_name="instancesettings",
            name="ice_servers",
            field=models.JSONField(
                blank=True,
                default=None,
                help_text='Leave empty for the default. A JSON list, e.g. [{"urls": "stun:stun.example.org:3478"}]; [] for none.',
                null=True,
                validators=[instance.ice.validate_ice_servers],
                verbose_name="STUN / TURN servers",
            ),
        ),
    ]
