from django.contrib import admin

from .models import Activity, App, Attachment, BugReport, Comment, IdempotencyKey


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "platform", "sdk_token_prefix", "report_counter", "created_at"]
    list_filter = ["platform"]
    search_fields = ["name", "organization__name"]
    # The hash is useless to an operator and the counter is maintained by the ingest service.
    readonly_fields = ["sdk_token_prefix", "sdk_token_rotated_at", "report_counter"]
    exclude = ["sdk_token_hash"]


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    readonly_fields = ["kind", "original_name", "content_type", "size", "created_at"]
    exclude = ["file"]


class CommentInline(admin.StackedInline):
    model = Comment
    extra = 0
    raw_id_fields = ["author"]


@admin.register(BugReport)
class BugReportAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "app", "status", "priority", "assignee", "created_at"]
    list_filter = ["status", "priority", "app__platform"]
    search_fields = ["title", "reporter_email", "app__name"]
    raw_id_fields = ["assignee", "app"]
    readonly_fields = ["number", "created_at", "updated_at"]
    list_select_related = ["app", "assignee"]
    inlines = [AttachmentInline, CommentInline]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["report", "display_author", "origin", "created_at"]
    list_filter = ["origin"]
    raw_id_fields = ["report", "author"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["report", "kind", "from_value", "to_value", "actor", "origin", "created_at"]
    list_filter = ["kind", "origin"]
    raw_id_fields = ["report", "actor"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["app", "key", "report", "created_at"]
    raw_id_fields = ["app", "report"]
