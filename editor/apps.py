import gc

from django.apps import AppConfig


class EditorConfig(AppConfig):
    name = "editor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        if not gc.isenabled():
            # manage.py loads the apps with collection off. What start-up made lives as long as the
            # process: frozen, later collections do not walk it again.
            gc.freeze()
            gc.enable()
