"""Sphinx configuration for the streamz_core documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""
from __future__ import annotations

import os
import sys

# The package is installed editable in the project's venv; this also lets the docs
# build from a plain checkout.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

project = "streamz_core"
author = "streamz_core developers"
copyright = "2026, streamz_core developers"

try:
    from streamz_core import __version__ as release
except ImportError:  # pragma: no cover - building docs without the package
    release = "0.1.0"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: fenced ```python blocks are highlighted, not executed (they are checked separately).
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc / napoleon: the docstrings are numpydoc.
autodoc_member_order = "bysource"
# The signatures are mostly ``Any``; the numpydoc Parameters sections say more.
autodoc_typehints = "none"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# No network: no intersphinx mappings (sphinx.ext.intersphinx is not loaded).
nitpicky = False

html_theme = "alabaster"
html_title = f"streamz_core {release}"


# Pages that other engineers write (the actor/task runtime guide). The index lists
# them in its toctree; until a page exists its entry is dropped here, with a message,
# instead of failing the -W build on a reference to a missing document.
_PENDING_PAGES = ("runtime",)


def _drop_pending_pages(app, docname, source):
    if docname != "index":
        return
    from sphinx.util import logging

    for page in _PENDING_PAGES:
        if not os.path.exists(os.path.join(app.srcdir, page + ".md")):
            logging.getLogger(__name__).info(
                "index: %s.md does not exist yet; left out of the toctree", page
            )
            source[0] = source[0].replace(f"\n{page}\n", "\n")


def setup(app):
    app.connect("source-read", _drop_pending_pages)
    return {"parallel_read_safe": True}
