#!/usr/bin/env python
import gc
import os
import sys

if __name__ == "__main__":
    # Start-up imports several hundred modules and frees almost nothing, so collecting cycles while
    # it runs only costs time (a tenth of a second of every command). EditorConfig.ready turns
    # collection back on once the apps are loaded.
    gc.disable()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aleph_studio.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
