"""The package build carries what the service needs beyond its Python modules.

Templates, static files, translations and migrations live at the top of the checkout (see
DESIGN.md, Layout), outside the ``moderation`` package. A wheel built from here gets copies of
them under ``moderation/_data/``, with the message catalogs compiled (``.mo`` files are build
output, not in git), so ``pip install .`` gives a service with its German and English UI
without ``make``. ``create_app`` uses the checkout's folders when they exist and these copies
otherwise. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# Top-level folders copied into the package as moderation/_data/<name>.
DATA_FOLDERS = ("templates", "static", "translations", "migrations")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "*.pot")


class build_py_with_data(build_py):  # noqa: N801  # setuptools' naming for commands
    """build_py, then the top-level data folders and the compiled catalogs into the package."""

    def run(self) -> None:
        super().run()
        # An editable install runs from the checkout, whose own folders the app finds.
        if getattr(self, "editable_mode", False):
            return
        data = Path(self.build_lib) / "moderation" / "_data"
        shutil.rmtree(data, ignore_errors=True)
        for name in DATA_FOLDERS:
            shutil.copytree(HERE / name, data / name, ignore=SKIP)
        compile_catalogs(data / "translations")


def compile_catalogs(translations: Path) -> None:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under TRANSLATIONS next to itself, as
    ``pybabel compile`` does; a catalog that does not compile fails the build."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    catalogs = sorted(translations.glob("*/LC_MESSAGES/*.po"))
    if not catalogs:
        raise SystemExit(f"no message catalogs under {translations}")
    for po in catalogs:
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name, domain=po.stem)
        errors = [(message.id, error) for message, errs in catalog.check() for error in errs]
        if errors:
            raise SystemExit(f"{po}: {errors}")
        with po.with_suffix(".mo").open("wb") as target:
            write_mo(target, catalog)


setup(cmdclass={"build_py": build_py_with_data})
