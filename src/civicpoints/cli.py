"""The one command line: ``civicpoints <command>``.

It is Django's manage.py under our name, so every management command is here: ``serve``,
``demo``, ``verify``, ``chain`` and Django's own (``migrate``, ``createsuperuser`` ...).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicpoints.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv if argv is not None else sys.argv)


if __name__ == "__main__":
    main()
