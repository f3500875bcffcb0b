from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class KnowledgeFileInvalid(InvalidInput):
    code = "KNOW-001"
    title = _("Knowledge file not valid")
    message = _("The knowledge file has %(count)s problems; nothing was imported.")


class NodeNotFound(CodedError):
    code = "KNOW-404"
    status = 404
    title = _("Not found")
    message = _("There is no knowledge node with the id %(key)s.")


class NoPath(CodedError):
    code = "KNOW-002"
    status = 404
    title = _("No path")
    message = _("No path of at most %(depth)s steps joins these two nodes.")
