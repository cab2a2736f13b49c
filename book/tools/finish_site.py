"""After Sphinx: serve the JavaScript ourselves and add the reveal.js slide shows.

Runs in the BOOK venv (nbconvert). It

1. copies from book/node_modules (pinned by book/package-lock.json) what the pages
   load: MathJax 3 for the book (``_vendor/mathjax3``), and reveal.js 4, require.js,
   jQuery and MathJax 2 for nbconvert's reveal template (``slides/_vendor``), so no
   page fetches anything from a CDN when it is viewed;
2. converts each notebook of book/notebooks/ (the prepared student versions, cells
   tagged with ``slideshow.slide_type``) into ``slides/<assignment>.slides.html``;
3. writes ``slides/index.html``, the list of slide shows.
"""
from __future__ import annotations

import argparse
import html
import shutil
import sys
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets.config import Config

BOOK = Path(__file__).resolve().parents[1]
MODULES = BOOK / "node_modules"

# (from node_modules, to the site, what to copy); directories are copied whole.
BOOK_ASSETS = [
    ("mathjax3/es5/tex-chtml.js", "_static/_vendor/mathjax3/tex-chtml.js"),
    ("mathjax3/es5/output/chtml/fonts", "_static/_vendor/mathjax3/output/chtml/fonts"),
    ("mathjax3/es5/input/tex/extensions", "_static/_vendor/mathjax3/input/tex/extensions"),
    ("mathjax3/es5/ui", "_static/_vendor/mathjax3/ui"),
    ("mathjax3/es5/a11y", "_static/_vendor/mathjax3/a11y"),
    ("mathjax3/es5/sre", "_static/_vendor/mathjax3/sre"),
    ("mathjax3/LICENSE", "_static/_vendor/mathjax3/LICENSE"),
]
SLIDE_ASSETS = [
    ("reveal.js/dist", "slides/_vendor/reveal.js/dist"),
    ("reveal.js/plugin/notes", "slides/_vendor/reveal.js/plugin/notes"),
    ("reveal.js/LICENSE", "slides/_vendor/reveal.js/LICENSE"),
    ("requirejs/require.js", "slides/_vendor/require.js"),
    ("jquery/dist/jquery.min.js", "slides/_vendor/jquery.min.js"),
    ("mathjax/MathJax.js", "slides/_vendor/mathjax/MathJax.js"),
    ("mathjax/config/TeX-AMS_CHTML-full.js", "slides/_vendor/mathjax/config/TeX-AMS_CHTML-full.js"),
    ("mathjax/config/Safe.js", "slides/_vendor/mathjax/config/Safe.js"),
    ("mathjax/extensions", "slides/_vendor/mathjax/extensions"),
    ("mathjax/jax/input/TeX", "slides/_vendor/mathjax/jax/input/TeX"),
    ("mathjax/jax/output/CommonHTML", "slides/_vendor/mathjax/jax/output/CommonHTML"),
    ("mathjax/jax/element", "slides/_vendor/mathjax/jax/element"),
    ("mathjax/fonts/HTML-CSS/TeX/woff", "slides/_vendor/mathjax/fonts/HTML-CSS/TeX/woff"),
    ("mathjax/localization/en", "slides/_vendor/mathjax/localization/en"),
    ("mathjax/LICENSE", "slides/_vendor/mathjax/LICENSE"),
]


def copy_assets(site: Path) -> None:
    for source, target in BOOK_ASSETS + SLIDE_ASSETS:
        origin, destination = MODULES / source, site / target
        if not origin.exists():
            raise SystemExit(f"error: {origin} is missing: run `npm ci` in {BOOK} (book/build does)")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, destination)


def slides_exporter() -> SlidesExporter:
    config = Config()
    config.SlidesExporter.reveal_url_prefix = "_vendor/reveal.js"
    config.SlidesExporter.reveal_scroll = True
    # "white" uses the fonts reveal.js ships; "simple" (nbconvert's default) and
    # most other themes @import Google Fonts.
    config.SlidesExporter.reveal_theme = "white"
    config.SlidesExporter.require_js_url = "_vendor/require.js"
    config.SlidesExporter.jquery_url = "_vendor/jquery.min.js"
    config.SlidesExporter.mathjax_url = "_vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
    # The book's own link cell points into the book; the slides leave it out.
    config.TagRemovePreprocessor.remove_cell_tags = {"remove-cell-slides"}
    config.TagRemovePreprocessor.enabled = True
    config.SlidesExporter.extra_template_basedirs = [str(Path(__file__).parent / "templates")]
    config.SlidesExporter.template_name = "primer_reveal"
    exporter = SlidesExporter(config=config)
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    return exporter


def title_of(notebook) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "Untitled"


def make_slides(notebooks: Path, site: Path) -> list[tuple[str, str]]:
    exporter = slides_exporter()
    made = []
    for path in sorted(notebooks.glob("*/*.ipynb")):
        assignment = path.parent.name
        notebook = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title_of(notebook)}})
        target = site / "slides" / f"{assignment}.slides.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
        made.append((target.name, title_of(notebook)))
        print(f"  slides/{target.name}", flush=True)
    items = "\n".join(f'  <li><a href="{html.escape(name)}">{html.escape(title)}</a></li>'
                      for name, title in made)
    (site / "slides" / "index.html").write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Slides: A primer on ML/DL with a focus on Neuroscience</title></head>
<body>
<h1>Slides</h1>
<p>Each assignment notebook (student version) as a reveal.js slide show: arrow keys or space to
move on, <kbd>Esc</kbd> for the overview. <a href="../index.html">Back to the course website</a>.</p>
<ul>
{items}
</ul>
</body></html>
""", encoding="utf-8")
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=BOOK / "notebooks")
    parser.add_argument("--site", type=Path, default=BOOK / "_build" / "html")
    args = parser.parse_args()
    copy_assets(args.site)
    if not make_slides(args.notebooks, args.site):
        print(f"error: no notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
