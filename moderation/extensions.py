"""Flask extensions, created unbound here and bound to the app in :func:`create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

# The base of every model. ``db.Model`` is a class Flask-SQLAlchemy builds at run time from
# ``Base``; a type checker cannot follow that (python/mypy#8603), so it is shown ``Base``, whose
# ``Mapped[...]`` typing the models need.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
csrf = CSRFProtect()
