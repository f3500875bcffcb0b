from django.urls import path

from smartcare.equipment import views

app_name = "equipment"

urlpatterns = [
    path("", views.board, name="board"),
    path("assets/<int:asset_id>/", views.asset, name="asset"),
    path("assets/<int:asset_id>/work-orders/", views.open_order, name="open_order"),
    path("assets/<int:asset_id>/plans/", views.create_plan, name="create_plan"),
    path("assets/<int:asset_id>/capacity/", views.move_capacity, name="move_capacity"),
    path("work-orders/", views.work_orders, name="work_orders"),
    path("work-orders/<int:order_id>/", views.work_order, name="work_order"),
    path("work-orders/<int:order_id>/start/", views.work_order_action, {"action": "start"}, name="start"),
    path(
        "work-orders/<int:order_id>/complete/",
        views.work_order_action,
        {"action": "complete"},
        name="complete",
    ),
    path("work-orders/<int:order_id>/cancel/", views.work_order_action, {"action": "cancel"}, name="cancel"),
]
