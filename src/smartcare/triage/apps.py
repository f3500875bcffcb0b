from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "smartcare.triage"
    label = "triage"
    verbose_name = _("Smart triage")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from smartcare.knowledge.models import Edge, FollowUpQuestion, KnowledgeRelease, Node, RedFlag
        from smartcare.triage import roles  # noqa: F401

        # New knowledge (an import or a curator's edit) reaches triage at once in this process,
        # and within a few seconds in the others.
        for model in (KnowledgeRelease, Node, Edge, RedFlag, FollowUpQuestion):
            post_save.connect(_refresh, sender=model, dispatch_uid=f"triage-refresh-{model.__name__}")
            post_delete.connect(_refresh, sender=model, dispatch_uid=f"triage-refresh-del-{model.__name__}")


def _refresh(**kwargs: object) -> None:
    from smartcare.triage.engine import refresh

    refresh()
