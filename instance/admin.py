from django.contrib import admin

from .models import InstanceSettings, Video, VideoFile


class VideoFileInline(admin.TabularInline):
    model = VideoFile
    extra = 0
    fields = ("resolution", "width", "size", "info_hash", "piece_length", "file", "torrent")
    readonly_fields = fields
    can_delete = False


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ("name", "uuid", "duration", "views", "p2p", "created")
    list_filter = ("p2p",)
    search_fields = ("name", "uuid")
    readonly_fields = ("uuid", "created")
    inlines = [VideoFileInline]


@admin.register(VideoFile)
class VideoFileAdmin(admin.ModelAdmin):
    list_display = ("video", "resolution", "size", "info_hash", "piece_length")
    search_fields = ("video__name", "info_hash")
    readonly_fields = ("info_hash", "piece_length", "size")


@admin.register(InstanceSettings)
class InstanceSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "p2p_enabled", "updated")

    def has_add_permission(self, request):
        return not InstanceSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
