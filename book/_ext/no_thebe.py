"""Drop sphinx-thebe from every page: Jupyter Book loads it even with launch buttons off, and it adds
its config script twice (a JavaScript error on every page) and a script from unpkg (a failed request
offline). The book runs no live code, so nothing of thebe is needed."""


def _is_thebe(asset) -> bool:
    text = f"{asset.filename or ''} {asset.attributes.get('body', '')}"
    return "thebe" in text.lower()


def _drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
