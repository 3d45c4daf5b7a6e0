from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: an audit log that staff could edit would prove nothing."""

    list_display = ("at", "actor", "subject", "setting", "old_value", "new_value")
    list_filter = ("actor",)
    search_fields = ("actor", "subject", "setting")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
