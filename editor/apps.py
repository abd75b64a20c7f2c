from django.apps import AppConfig
from django.conf import settings
from PIL import Image


class EditorConfig(AppConfig):
    name = "editor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from editor import signals  # noqa: F401 - connects the receivers that delete stored files

        # Pillow's own decompression-bomb guard, at the studio's limit for images.
        Image.MAX_IMAGE_PIXELS = settings.ALEPH_MAX_REFERENCE_PIXELS
