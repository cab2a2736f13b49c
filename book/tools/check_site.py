"""Check a built site: every internal link, image, script and stylesheet resolves.

Standard library only, so that the book's build and the course's tests can both
run it. For every HTML file under the site it checks that

* each internal ``href``/``src`` (not http(s), mailto, data, javascript) names a
  file that exists in the site, and, when it has a ``#fragment``, that the
  target page has an element with that id (or a named anchor);
* each ``<img>`` has a ``src`` that is a non-empty file or a data: URI;
* every page can be reached by links from ``index.html``;
* no page LOADS anything from another host at view time (``<script src>``,
  ``<link rel=stylesheet>``, ``<img>``, ``<iframe>``); plain links to other
  sites (``<a href="https://...">``) are fine.

Exit status 1 and one line per problem when something is wrong.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXTERNAL_SCHEMES = {"http", "https", "mailto", "javascript", "data", "tel", "ftp"}


@dataclass
class Page:
    ids: set[str] = field(default_factory=set)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attribute, url)


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.page.ids.add(attrs[key])
        if tag == "a" and attrs.get("href") is not None:
            self.page.links.append((tag, "href", attrs["href"]))
        elif tag == "link" and attrs.get("href") is not None:
            rel = (attrs.get("rel") or "").lower()
            if any(r in rel for r in ("stylesheet", "icon", "preload", "prev", "next", "index", "search")):
                self.page.links.append((tag, f"href[{rel}]", attrs["href"]))
        elif tag == "form" and attrs.get("action"):
            self.page.links.append(("a", "action", attrs["action"]))
        elif tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            content = attrs.get("content") or ""
            if "url=" in content.lower():
                self.page.links.append(("a", "meta-refresh", content[content.lower().index("url=") + 4:]))
        elif tag in ("img", "script", "iframe", "source", "video", "audio", "embed") \
                and attrs.get("src") is not None:
            self.page.links.append((tag, "src", attrs["src"]))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def parse(path: Path) -> Page:
    parser = _Parser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.page


def check_site(site: Path) -> tuple[list[str], dict]:
    site = site.resolve()
    # _static/ holds the theme's Jinja fragments (*.html templates), not pages.
    pages = {p.resolve(): parse(p) for p in site.rglob("*.html")
             if p.relative_to(site).parts[0] != "_static"}
    for p in site.glob("_static/**/*.html"):
        pages.setdefault(p.resolve(), Page())
    problems: list[str] = []
    counts = {"pages": len(pages), "internal_links": 0, "images": 0, "anchors": 0}
    for path, page in sorted(pages.items()):
        if path.relative_to(site).parts[0] == "_static":
            continue
        where = path.relative_to(site)
        for tag, attribute, url in page.links:
            parts = urlsplit(url.strip())
            loads = tag != "a"  # everything but <a> is fetched when the page is viewed
            if tag == "link" and not any(r in attribute for r in ("stylesheet", "icon", "preload")):
                loads = False
            if parts.scheme in EXTERNAL_SCHEMES or url.startswith("//"):
                if tag == "img" and parts.scheme == "data":
                    counts["images"] += 1
                    if len(url) < 30:
                        problems.append(f"{where}: empty data: image")
                elif loads and parts.scheme != "data":
                    problems.append(f"{where}: <{tag} {attribute}> loads {url} from another host")
                continue
            if parts.scheme:
                continue  # another scheme: not ours to check
            if tag == "img":
                counts["images"] += 1
            counts["internal_links"] += 1
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or (target.is_dir() and parts.path):
                target = target / "index.html"
            try:
                target.relative_to(site)
            except ValueError:
                problems.append(f"{where}: <{tag} {attribute}={url!r}> points outside the site")
                continue
            if not target.is_file():
                problems.append(f"{where}: <{tag} {attribute}={url!r}>: {target.relative_to(site)} does not exist")
                continue
            if tag == "img" and target.stat().st_size == 0:
                problems.append(f"{where}: image {url!r} is an empty file")
            if parts.fragment and target.suffix == ".html" and tag == "a":
                counts["anchors"] += 1
                # Browsers try the fragment as written, then percent-decoded (HTML spec).
                fragment = parts.fragment
                if not {fragment, unquote(fragment)} & pages[target].ids:
                    problems.append(f"{where}: link {url!r}: no id {fragment!r} in {target.relative_to(site)}")
    # Every page can be reached by following links from the front page.
    reachable, todo = set(), [site / "index.html"]
    while todo:
        path = todo.pop()
        if path in reachable or path not in pages:
            continue
        reachable.add(path)
        for tag, _, url in pages[path].links:
            parts = urlsplit(url.strip())
            if tag == "a" and not parts.scheme and parts.path.endswith(".html"):
                todo.append((path.parent / unquote(parts.path)).resolve())
    for path in sorted(set(pages) - reachable):
        relative = path.relative_to(site)
        # Sphinx always writes genindex.html (empty here: the book has no index entries).
        if not {"_static", "_vendor"} & set(relative.parts) and str(relative) != "genindex.html":
            problems.append(f"{path.relative_to(site)}: no link leads here from index.html")
    counts["reachable_pages"] = len(reachable)
    return problems, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, nargs="?",
                        default=Path(__file__).resolve().parents[1] / "_build" / "html")
    args = parser.parse_args()
    problems, counts = check_site(args.site)
    for problem in problems:
        print(f"  broken: {problem}")
    print(f"  checked {counts['pages']} pages: {counts['internal_links']} internal links "
          f"({counts['anchors']} to anchors), {counts['images']} images: "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
