from django.contrib import admin

from editor.models import Clip, Edit, Project, Reference


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "updated_at")


@admin.register(Edit)
class EditAdmin(admin.ModelAdmin):
    list_display = ("pk", "project", "engine", "status", "progress", "created_at")
    list_filter = ("status", "engine")


admin.site.register(Clip)
admin.site.register(Reference)
