from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class KnowledgeFileInvalid(InvalidInput):
    code = "KNOW-001"
    title = _("Knowledge file not valid")
    message = _("The knowledge file has %(count)s problems; nothing was imported.")


class FileTooLarge(InvalidInput):
    code = "KNOW-003"
    title = _("File too large")
    message = _("The file is larger than %(limit)s MB; import it with smartcare knowledge-import.")


class ReleaseNeedsConfirmation(InvalidInput):
    code = "KNOW-004"
    title = _("Confirmation needed")
    message = _(
        "This release would retire %(nodes)s of the %(active)s active concepts and %(flags)s red flags "
        "of the dataset %(origin)s. Check the file; to import it anyway, confirm (--force)."
    )


class ReservedDataset(InvalidInput):
    code = "KNOW-005"
    title = _("Dataset name reserved")
    message = _("The dataset %(origin)s is the knowledge shipped with smartcare and is updated only with it.")


class FormatChanged(InvalidInput):
    code = "KNOW-006"
    title = _("Format changed")
    message = _(
        "The dataset %(origin)s was imported as %(previous)s; a release in another format needs another name."
    )


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
