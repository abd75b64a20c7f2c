from django.db import migrations, models

from editor.engines.remote.failures import describe_failure


def mark_moderated(apps, schema_editor):
    """Flag the failed edits whose provider code was a moderation block (as the poll now does)."""
    Edit = apps.get_model("editor", "Edit")
    failed = Edit.objects.filter(status="failed").exclude(error_code="").exclude(engine="local")
    moderated = [pk for pk, code in failed.values_list("pk", "error_code") if describe_failure(code).suspension_warning]
    Edit.objects.filter(pk__in=moderated).update(moderated=True)


class Migration(migrations.Migration):

    dependencies = [
        ("editor", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="edit",
            name="moderated",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_moderated, migrations.RunPython.noop),
    ]
