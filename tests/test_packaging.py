"""`pip install .` installs the whole service: templates, static files, migrations and the
compiled message catalogs travel in the wheel (setup.py's build step), so a plain install
speaks German and English without `make`.

The wheel is built from a copy of the checkout without any ``.mo`` file, so the test proves
that the build compiles the catalogs, and without build isolation (setuptools and Babel come
from the test extra), so it needs no download.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from moderation import ROOT, rules

# What the build leaves out of the copy: local state, caches and build output (the .mo files).
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "instance", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", "*.mo",
    ".pytest_cache", ".ruff_cache", ".mypy_cache", "test-results", "node_modules",
)  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a clean copy of the checkout (a build of the checkout itself
    would write build/ into it, where other runs build at the same time)."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=IGNORE)
    assert not list(source.glob("translations/*/LC_MESSAGES/*.mo"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--quiet", "-w", str(work / "dist"), str(source)],
        check=True, timeout=300,
    )  # fmt: skip
    (built,) = (work / "dist").glob("moderation-*.whl")
    return built


def test_wheel_carries_templates_static_files_migrations_and_catalogs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "moderation/_data/"
    for required in [
        "templates/base.html",
        "templates/moderate/queue.html",
        "templates/embed/thread.html",
        "static/embed.js",
        "static/moderate.css",
        "migrations/env.py",
        "migrations/alembic.ini",
        "migrations/script.py.mako",
    ]:
        assert data + required in names
    for folder in ("templates", "static", "migrations"):
        shipped = {n.removeprefix(data) for n in names if n.startswith(f"{data}{folder}/")}
        in_checkout = {
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert shipped == in_checkout, folder
    versions = sorted(p.name for p in (ROOT / "migrations/versions").glob("*.py"))
    assert versions
    assert {f"{data}migrations/versions/{v}" for v in versions} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("lang", rules.LANGUAGES)
def test_wheel_catalogs_are_compiled_from_the_source(wheel: Path, lang: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        mo = archive.read(f"moderation/_data/translations/{lang}/LC_MESSAGES/messages.mo")
    compiled = {(m.context, _key(m.id)): _key(m.string) for m in read_mo(BytesIO(mo)) if m.id}
    with open(ROOT / f"translations/{lang}/LC_MESSAGES/messages.po", "rb") as f:
        # As write_mo and `pybabel compile`: untranslated and fuzzy messages stay out.
        source = {
            (m.context, _key(m.id)): _key(m.string)
            for m in read_po(f)
            if m.id and m.string and not m.fuzzy
        }
    assert compiled == source
    if lang == "de":
        assert compiled[(None, "Leave a comment")] == "Kommentar hinterlassen"


# A fresh virtual environment (a few seconds) with the wheel installed, outside the checkout.
RENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import moderation
    from flask_migrate import upgrade
    from moderation import create_app
    from moderation.sites import create_site

    assert "site-packages" in moderation.__file__, moderation.__file__
    app = create_app({"INSTANCE_PATH": sys.argv[1], "SECRET_KEY": "k",
                      "DATABASE_URL": "sqlite:///" + sys.argv[1] + "/moderation.sqlite"})
    with app.app_context():
        upgrade()  # the migrations shipped in the wheel
        create_site("tagesblatt", "Tagesblatt", language="de")
    client = app.test_client()
    page = client.get("/embed/tagesblatt/politik/artikel")
    assert page.status_code == 200, page.status_code
    print(page.get_data(as_text=True))
    english = client.get("/embed/tagesblatt/politik/artikel?lang=en").get_data(as_text=True)
    assert "Leave a comment" in english
    script = client.get("/embed.js")
    assert script.status_code == 200 and script.data, script.status_code
    script.close()
    login = client.get("/moderate/login", headers={"Accept-Language": "de"})
    assert login.status_code == 200, login.status_code
    print(login.get_data(as_text=True))
    """
)


def test_installed_wheel_serves_german_pages_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    """The wheel in a fresh venv; its dependencies come from this environment's site-packages,
    added as a plain path (not a site dir, so this checkout's editable install stays out)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--disable-pip-version-check", "--quiet", str(wheel)],
        check=True, timeout=120,
    )  # fmt: skip
    instance = tmp_path / "instance"
    instance.mkdir()
    result = subprocess.run(
        [str(python), "-c", RENDER, str(instance)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Kommentar hinterlassen" in result.stdout
    assert "Leave a comment" not in result.stdout
    assert (instance / "moderation.sqlite").exists()
