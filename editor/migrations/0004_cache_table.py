from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    """Create the table of the database cache (rate limits, cached balances) when it is configured."""
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):

    dependencies = [
        ("editor", "0003_leases"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
    ]
