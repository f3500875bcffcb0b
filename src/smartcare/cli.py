"""The ``smartcare`` command: every operation of the platform.

``smartcare serve``, ``smartcare worker``, ``smartcare demo-data``, ``smartcare audit verify``,
``smartcare backup`` ... are Django management commands; names with dashes map to the
commands' underscore names, and any other Django command (migrate, createsuperuser) works too.
"""

from __future__ import annotations

import os
import sys

ALIASES = {
    "demo-data": "demo_data",
    "rotate-field-key": "rotate_field_key",
    "api-token": "api_token",
    "run-demo": "run_demo",
    "create-user": "create_user",
}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcare.settings")
    args = list(sys.argv if argv is None else argv)
    if len(args) > 1:
        args[1] = ALIASES.get(
            args[1], args[1].replace("-", "_") if args[1] not in ("--help", "-h") else args[1]
        )
    if len(args) > 1 and args[1] == "serve" and any(a.startswith("--certfile") for a in args):
        # Secure cookies and HSTS are settings, read when Django starts: decide before that.
        os.environ["SMARTCARE_HTTPS"] = "1"
    from django.core.management import execute_from_command_line

    args[0] = "smartcare"
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
