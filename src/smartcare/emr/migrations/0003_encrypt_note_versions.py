"""Signed and amended note versions are encrypted at rest like the note itself (review finding:
they were plain JSON). The content is copied into an encrypted column, then replaces the old one."""

from django.db import migrations

import smartcare.core.fields


def encrypt_existing(apps, schema_editor):
    NoteVersion = apps.get_model("emr", "NoteVersion")
    for version in NoteVersion.objects.all().only("pk", "content"):
        NoteVersion.objects.filter(pk=version.pk).update(sealed=version.content)


class Migration(migrations.Migration):
    dependencies = [("emr", "0002_default_note_templates")]

    operations = [
        migrations.AddField(
            model_name="noteversion",
            name="sealed",
            field=smartcare.core.fields.EncryptedJSONField(null=True, verbose_name="content"),
        ),
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop),
        migrations.RemoveField(model_name="noteversion", name="content"),
        migrations.RenameField(model_name="noteversion", old_name="sealed", new_name="content"),
        migrations.AlterField(
            model_name="noteversion",
            name="content",
            field=smartcare.core.fields.EncryptedJSONField(verbose_name="content"),
        ),
    ]
