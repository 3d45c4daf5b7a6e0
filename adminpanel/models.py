"""The audit log: every change made from the panel or the `p2p` command, with who made it."""

from django.db import models

# The actor recorded for changes made with `manage.py p2p` (no logged-in user there).
CLI_ACTOR = "cli"


class AuditEntryQuerySet(models.QuerySet):
    def newest(self, count: int) -> "AuditEntryQuerySet":
        return self.order_by("-at", "-id")[:count]

    def about_video(self, uuid) -> "AuditEntryQuerySet":
        # The subject ends with the video's uuid (adminpanel.switches.video_subject): its name
        # may have changed since, its uuid never does.
        return self.filter(subject__endswith=f"({uuid})")


class AuditEntry(models.Model):
    """One changed setting. Values are kept as the panel shows them ("on", "inherit", "20").

    The actor is a username (or "cli"), not a foreign key: the entry must outlive the account.
    Nothing about viewers or peers is ever written here.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    subject = models.CharField(max_length=200, help_text='"instance" or the video changed.')
    setting = models.CharField(max_length=100)
    old_value = models.CharField(max_length=100)
    new_value = models.CharField(max_length=100)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.actor}: {self.subject} {self.setting} {self.old_value} -> {self.new_value}"
