import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the admin account once: PEERVEIL_ADMIN_USER / PEERVEIL_ADMIN_PASSWORD, "
        "or a generated password printed this one time. An explicit password is re-applied."
    )

    def handle(self, *args, **options):
        users = get_user_model()
        username = settings.ADMIN_USER
        user = users.objects.filter(username=username).first()
        if user is not None:
            if settings.ADMIN_PASSWORD and not user.check_password(settings.ADMIN_PASSWORD):
                user.set_password(settings.ADMIN_PASSWORD)
                user.save(update_fields=["password"])
                self.stdout.write(f"admin account {username!r}: password updated from env")
            return
        password = settings.ADMIN_PASSWORD or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        if settings.ADMIN_PASSWORD:
            self.stdout.write(f"admin account {username!r} created (password from env)")
        else:
            self.stdout.write(
                f"admin account created: user {username!r}, password {password!r} "
                "(shown once; set PEERVEIL_ADMIN_PASSWORD to choose it)"
            )
