from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EquipmentConfig(AppConfig):
    name = "smartcare.equipment"
    label = "equipment"
    verbose_name = _("Equipment")

    def ready(self) -> None:
        from smartcare.core.periodic import register
        from smartcare.equipment import mqtt, roles, steering  # noqa: F401
        from smartcare.equipment.tasks import (
            check_heartbeats,
            compact_telemetry,
            detect_anomalies,
            open_preventive_work_orders,
            predict_failures,
        )
        from smartcare.monitoring.bridge import TopicHandler, register_topic_handler

        register_topic_handler(TopicHandler("equipment", mqtt.subscription, mqtt.store_messages))
        register("equipment.heartbeats", check_heartbeats.enqueue, every_seconds=60)
        register("equipment.anomalies", detect_anomalies.enqueue, every_seconds=3600)
        register("equipment.predictions", predict_failures.enqueue, every_seconds=6 * 3600)
        register("equipment.preventive", open_preventive_work_orders.enqueue, every_seconds=6 * 3600)
        register("equipment.compact", compact_telemetry.enqueue, every_seconds=24 * 3600)
