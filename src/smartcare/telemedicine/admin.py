from django.contrib import admin

from smartcare.telemedicine.models import Consultation, RoomEvent


@admin.register(Consultation)
class ConsultationAdmin(admin.ModelAdmin[Consultation]):
    # Clinical text stays out of the admin lists: numbers, departments, states and times only.
    list_display = (
        "id",
        "requesting_department",
        "specialty",
        "urgency",
        "status",
        "requested_at",
        "deadline_at",
    )
    list_filter = ("status", "urgency", "specialty")
    fields = ("status", "urgency", "deadline_at", "escalated_at", "overdue_at", "terminal")
    readonly_fields = ("status", "urgency", "deadline_at", "escalated_at", "overdue_at")


@admin.register(RoomEvent)
class RoomEventAdmin(admin.ModelAdmin[RoomEvent]):
    list_display = ("consultation", "kind", "at")
    list_filter = ("kind",)
    readonly_fields = ("consultation", "user", "kind", "at", "detail")
