"""Sphinx tweaks of the course website.

* Drop sphinx-thebe's scripts and stylesheet. Jupyter Book 1.x always loads the
  extension; this site has no live code (the notebooks run on the course hub), and
  its inline ``const THEBE_JS_URL`` is emitted twice per page, a script error in
  every browser ("Identifier 'THEBE_JS_URL' has already been declared").
"""
from __future__ import annotations


def _is_thebe(asset) -> bool:
    body = (getattr(asset, "attributes", None) or {}).get("body", "") or ""
    return "thebe" in (getattr(asset, "filename", None) or "") or "THEBE_" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
