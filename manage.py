#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aleph_studio.settings")
    if sys.argv[1:2] == ["edit_clip"]:
        # The local engine on plain files reads no settings, models or database, so its command
        # runs without setting Django up: loading the apps is a tenth of a second of every edit.
        from editor.management.commands.edit_clip import Command

        Command().run_from_argv(sys.argv)
    else:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
