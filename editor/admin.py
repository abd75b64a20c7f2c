from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from editor.models import Clip, Edit, Invite, Member, Project, Reference, Spend


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "updated_at")


@admin.register(Edit)
class EditAdmin(admin.ModelAdmin):
    list_display = ("pk", "project", "engine", "status", "progress", "created_at")
    list_filter = ("status", "engine")


class MemberInline(admin.StackedInline):
    model = Member
    can_delete = False
    verbose_name_plural = "Allowance (credits a month for paid engines; empty: unlimited)"


class StudioUserAdmin(UserAdmin):
    inlines = [MemberInline]


@admin.register(Spend)
class SpendAdmin(admin.ModelAdmin):
    list_display = ("user", "edit", "provider", "reserved_credits", "charged_credits", "created_at")
    list_filter = ("provider",)
    readonly_fields = ("user", "edit", "provider", "reserved_credits", "charged_credits", "created_at", "settled_at")


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ("note", "created_by", "created_at", "expires_at", "used_by")
    readonly_fields = ("token_hash",)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), StudioUserAdmin)
admin.site.register(Clip)
admin.site.register(Reference)
