"""The course website (book/): it builds, shows no solution, links work, a browser can use it.

The session fixture runs ``book/build`` exactly as ``make book`` does (it installs
what is missing: the book's own venv, the pinned reveal.js and MathJax, the
course venv), then the tests check the built site in book/_build/html:

* the structure of the 2021 workshop, and every assignment of release/ in it;
* every internal link, anchor, image, script and stylesheet resolves, nothing is
  loaded from another host (book/tools/check_site.py, which must also catch
  broken ones planted in a copy of the site);
* no solution code, no written model answer and no hidden test of source/
  reaches any file of the site or the prepared notebooks;
* "Open on the hub" links point to the configured hub;
* a reveal.js slide show per notebook, tagged cells, served locally;
* Debian's chromium (Playwright) walks the book from the first page to the last
  with the "next" buttons, finds every chapter in the sidebar, no broken image,
  no failed request, and runs a slide show; screenshots go to artifacts/book/.
"""
from __future__ import annotations

import functools
import html
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
import yaml

from conftest import ASSIGNMENTS, REPO, nbgrader_meta

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # builds the whole book; chromium walks it
BOOK = REPO / "book"
SITE = BOOK / "_build" / "html"
ARTIFACTS = REPO / "artifacts" / "book"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
DEFAULT_HUB = "http://127.0.0.1:8000"


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"book_{name}", BOOK / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def site() -> Path:
    """Build the site once per session with the same script as `make book`."""
    env = {k: v for k, v in os.environ.items() if k != "PRIMER_BOOK_HUB_URL"}
    start = time.perf_counter()
    result = subprocess.run([str(BOOK / "build")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=1200)
    seconds = time.perf_counter() - start
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "build.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"book/build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    print(f"book/build took {seconds:.0f} s")
    return SITE


def toc_files() -> list[str]:
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    walk(toc.get("parts", []))
    return files


def release_notebook(assignment: str) -> Path:
    (path,) = (REPO / "release" / assignment).glob("*.ipynb")
    return path


def page_of(assignment: str) -> Path:
    return SITE / "notebooks" / assignment / release_notebook(assignment).with_suffix(".html").name


# --------------------------------------------------------------------------- structure

def test_workshop_structure_and_every_assignment_in_the_book(site):
    files = toc_files()
    for chapter in ("intro", "setup", "outline", "prerequisites", "classic_ml", "deep_learning",
                    "feedback", "code_of_conduct"):
        assert chapter in files, f"the workshop's chapter {chapter!r} is missing from book/_toc.yml"
    for assignment in ASSIGNMENTS:
        entry = f"notebooks/{assignment}/{release_notebook(assignment).stem}"
        assert entry in files, f"{assignment} is not in book/_toc.yml: add `- file: {entry}`"
    for entry in files:
        assert (site / f"{entry}.html").is_file(), f"{entry}.html was not built"
    assert (site / "index.html").is_file()


def test_figures_are_in_the_book(site):
    report = json.loads((BOOK / "notebooks" / "report.json").read_text())
    assert {row["assignment"] for row in report} == set(ASSIGNMENTS)
    images = {a: len(re.findall(r"<img\b", page_of(a).read_text())) for a in ASSIGNMENTS}
    with_figures = [a for a, n in images.items() if n]
    # Every assignment with code draws something; the feedback survey does not.
    assert len(with_figures) >= len(ASSIGNMENTS) - 1, f"images per page: {images}"


def test_each_notebook_ran_offline_for_the_book(site):
    """Every page's notebook was executed for the book (offline: the build has no network).

    How long each took is a figure, not a pass/fail: a timed test flakes on a busy
    machine. `make bench-notebooks` measures the solution notebooks against the
    20 s budget (10 s median over the course); the book's own times are printed here.
    """
    runs = {f"{m.parent.parent.name}/{m.parent.name}": json.loads(m.read_text())["seconds"]
            for m in (BOOK / ".cache" / "executed").glob("*/*/*.json")}
    ran = {name.split("/")[1] for name in runs}
    assert set(ASSIGNMENTS) <= ran, f"not executed for the book: {sorted(set(ASSIGNMENTS) - ran)}"
    print("seconds per notebook when the book ran it:", dict(sorted(runs.items())))


# --------------------------------------------------------------------------- links and images

def test_every_internal_link_and_image_resolves(site):
    problems, counts = _load_tool("check_site").check_site(site)
    assert not problems, "\n".join(problems)
    assert counts["pages"] >= len(toc_files()) and counts["images"] >= 20, counts


def test_the_link_checker_catches_broken_links_images_and_cdn(site, tmp_path):
    copy = tmp_path / "html"
    shutil.copytree(site, copy, ignore=shutil.ignore_patterns("_vendor"))
    page = copy / "notebooks" / "02_ml_model_types" / release_notebook("02_ml_model_types").with_suffix(".html").name
    text = page.read_text()
    image = re.search(r'<img[^>]+src="(\.\./\.\./_images/[^"]+)"', text).group(1)
    (page.parent / image).resolve().unlink()
    text = text.replace("</body>", '<a href="../../nowhere.html">x</a><a href="#no-such-anchor">y</a>'
                                   '<script src="https://cdn.example.org/x.js"></script></body>')
    page.write_text(text)
    problems, _ = _load_tool("check_site").check_site(copy)
    joined = "\n".join(problems)
    for expected in (image, "nowhere.html", "no-such-anchor", "cdn.example.org", "mathjax3"):
        assert expected in joined, f"check_site.py did not report {expected!r}:\n{joined[:2000]}"


# --------------------------------------------------------------------------- no solutions

def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _between(source: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{re.escape(begin)}\n?(.*?){re.escape(end)}", source, flags=re.S)


def secret_lines() -> dict[str, set[str]]:
    """Per assignment: the lines of source/ that only instructors may see.

    Solution code (between BEGIN/END SOLUTION), written model answers (markdown
    solution cells) and hidden tests (between BEGIN/END HIDDEN TESTS); lines
    that also appear in a release notebook (``plt.show()``, a line given to students)
    or are too short to identify anything are not secrets.
    """
    public = _normalise("\n".join(
        c.source for a in ASSIGNMENTS for c in nbformat.read(release_notebook(a), as_version=4).cells))
    secrets = {}
    for assignment in ASSIGNMENTS:
        (source,) = (REPO / "source" / assignment).glob("*.ipynb")
        nb = nbformat.read(source, as_version=4)
        lines = set()
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            chunks = []
            if cell.cell_type == "markdown" and meta.get("solution"):
                chunks.append(cell.source)
            chunks += _between(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
            chunks += _between(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
            for chunk in chunks:
                for line in chunk.splitlines():
                    line = _normalise(line)
                    if len(line) >= 12 and line not in public:
                        lines.add(line)
        secrets[assignment] = lines
    return secrets


def site_texts(site: Path):
    """Every text file of the site (raw and, for HTML, as the text a reader sees) and the
    prepared notebooks."""
    files = [p for p in site.rglob("*") if p.is_file() and "_vendor" not in p.parts
             and p.suffix in {".html", ".js", ".json", ".txt", ".ipynb", ".md", ".css", ".xml", ".inv"}]
    files += list((BOOK / "notebooks").rglob("*.ipynb"))
    for path in files:
        raw = path.read_text(encoding="utf-8", errors="replace")
        texts = [_normalise(html.unescape(raw))]
        if path.suffix == ".html":
            visible = re.sub(r"<[^>]+>", "", raw)  # pygments splits code into spans
            texts.append(_normalise(html.unescape(visible)))
        if path.suffix == ".ipynb":
            nb = json.loads(raw)
            texts.append(_normalise("\n".join("".join(c.get("source", "")) for c in nb["cells"])))
        yield path, texts


def test_no_solution_and_no_hidden_test_reaches_the_site(site):
    secrets = secret_lines()
    assert sum(map(len, secrets.values())) > 100, "found almost no solution lines: is source/ parsed?"
    # The detector finds every secret in the instructor's own notebook (it is not blind) ...
    for assignment, lines in secrets.items():
        (source,) = (REPO / "source" / assignment).glob("*.ipynb")
        text = _normalise("\n".join(c.source for c in nbformat.read(source, as_version=4).cells))
        assert all(line in text for line in lines)
    # ... and the site does show the student versions.
    corpus = list(site_texts(site))
    everything = " ".join(t for _, texts in corpus for t in texts)
    assert "raise NotImplementedError()" in everything and "YOUR ANSWER HERE" in everything
    leaks = []
    all_secrets = {(a, line) for a, lines in secrets.items() for line in lines}
    for path, texts in corpus:
        for assignment, line in all_secrets:
            if any(line in text for text in texts):
                leaks.append(f"{path.relative_to(REPO)}: {assignment}: {line[:100]}")
    assert not leaks, "instructor-only text in the site:\n" + "\n".join(sorted(leaks)[:40])
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in everything, f"{marker!r} in the site"


# --------------------------------------------------------------------------- hub links and slides

def hub_link(assignment: str, hub: str = DEFAULT_HUB) -> str:
    return f"{hub}/hub/user-redirect/lab/tree/primer/{assignment}/{release_notebook(assignment).name}"


def test_open_on_the_hub_links(site):
    for assignment in ASSIGNMENTS:
        text = page_of(assignment).read_text()
        links = re.findall(r'<a class="primer-hub-link" href="([^"]+)"', text)
        assert links == [hub_link(assignment)], f"{assignment}: hub links {links}"


def test_the_hub_url_is_configurable(site, tmp_path):
    """prepare_notebooks.py (cached executions: fast) with another hub, by the variable."""
    python = Path(subprocess.check_output([str(REPO / "scripts" / "venv-path")], text=True).strip()) / "bin" / "python"
    env = dict(os.environ, PRIMER_BOOK_HUB_URL="https://hub.example.org/")
    subprocess.run([str(python), str(BOOK / "tools" / "prepare_notebooks.py"), "--out", str(tmp_path)],
                   check=True, env=env, capture_output=True, timeout=600)
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(tmp_path / assignment / release_notebook(assignment).name, as_version=4)
        assert hub_link(assignment, "https://hub.example.org") in nb.cells[1].source
    bad = subprocess.run([str(python), str(BOOK / "tools" / "prepare_notebooks.py"), "--out",
                          str(tmp_path / "x"), "--hub-url", "hub.example.org"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "https://hub.example.org" in bad.stderr


def test_slides_for_every_notebook(site):
    for relative in ("slides/_vendor/reveal.js/dist/reveal.js", "slides/_vendor/require.js",
                     "slides/_vendor/mathjax/MathJax.js", "_static/_vendor/mathjax3/tex-chtml.js"):
        assert (site / relative).is_file(), f"{relative} missing"
    index = (site / "slides" / "index.html").read_text()
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(BOOK / "notebooks" / assignment / release_notebook(assignment).name, as_version=4)
        kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
        assert None not in kinds and kinds.count("slide") >= 2, f"{assignment}: slide types {kinds}"
        slides = site / "slides" / f"{assignment}.slides.html"
        text = slides.read_text()
        assert text.count("<section") >= 2 and "_vendor/reveal.js/dist/reveal.js" in text
        assert "unpkg.com" not in text and "cdnjs" not in text
        assert f'href="{slides.name}"' in index
        assert f'../../slides/{slides.name}' in page_of(assignment).read_text()


# --------------------------------------------------------------------------- real browser

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_site(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class PageWatch:
    """Failed requests, requests to other hosts (blocked) and script errors of a page."""

    def __init__(self, page, base: str):
        self.problems: list[str] = []
        host = urlsplit(base).netloc

        def route(r):
            if urlsplit(r.request.url).netloc != host and not r.request.url.startswith("data:"):
                self.problems.append(f"request to another host: {r.request.url}")
                r.abort()
            else:
                r.continue_()

        page.route("**/*", route)
        def failed(request):
            # A request cut short because the page navigated on (ERR_ABORTED) is normal;
            # a missing file shows up as an HTTP status below.
            error = request.failure or ""
            if urlsplit(request.url).netloc == host and "ERR_ABORTED" not in error:
                self.problems.append(f"failed ({error}): {request.url}")

        page.on("requestfailed", failed)
        page.on("response", lambda resp: self.problems.append(f"HTTP {resp.status}: {resp.url}")
                if resp.status >= 400 else None)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))


BROKEN_IMAGES_JS = """() => Array.from(document.images)
    .filter(img => !(img.complete && img.naturalWidth > 0))
    .map(img => img.currentSrc || img.src)"""


def test_browser_walks_every_chapter_without_broken_images(served_site, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = PageWatch(page, served_site)
    expected = {f"{entry}.html" for entry in toc_files()}

    page.goto(f"{served_site}/index.html")
    page.wait_for_load_state("networkidle")
    sidebar = {urlsplit(page.evaluate("a => a.href", a)).path.lstrip("/")
               for a in page.query_selector_all("nav.bd-docs-nav a.reference.internal")}
    assert expected - {"intro.html"} <= sidebar | {"intro.html"}, f"not in the sidebar: {expected - sidebar}"
    page.screenshot(path=str(ARTIFACTS / "index.png"))

    visited, images, broken = [], 0, {}
    for _ in range(len(expected) + 5):
        page.wait_for_load_state("networkidle")
        path = urlsplit(page.url).path.lstrip("/")
        visited.append(path)
        page.evaluate("() => Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))")
        images += page.evaluate("() => document.images.length")
        if bad := page.evaluate(BROKEN_IMAGES_JS):
            broken[path] = bad
        if path.startswith("notebooks/"):
            assignment = path.split("/")[1]
            link = page.locator("a.primer-hub-link")
            assert link.count() == 1 and link.is_visible(), f"{path}: no visible hub link"
            assert link.get_attribute("href") == hub_link(assignment)
        if path == "notebooks/02_ml_model_types/ml_model_types.html":
            page.screenshot(path=str(ARTIFACTS / "assignment.png"), full_page=True)
        following = page.locator("a.right-next")
        if following.count() == 0:
            break
        following.first.click()  # the "Next" button at the foot of each page
        page.wait_for_url(lambda url: urlsplit(url).path.lstrip("/") != path)
    # index.html is a redirect to the root page (intro.html), which the walk starts from.
    assert expected <= set(visited) | {"index.html"}, f"not reached by 'Next': {expected - set(visited)}"
    assert not broken, f"broken images: {broken}"
    assert images >= 20, f"only {images} images in the whole book"
    assert not watch.problems, "\n".join(watch.problems)
    context.close()


def test_browser_runs_a_slide_show(served_site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = PageWatch(page, served_site)
    # From an assignment page, the "View as slides" link.
    page.goto(f"{served_site}/notebooks/05_dl_basics/{release_notebook('05_dl_basics').with_suffix('.html').name}")
    page.locator("a.primer-slides-link").click()
    page.wait_for_selector(".reveal.ready", timeout=30_000)
    page.wait_for_load_state("networkidle")
    first = page.locator(".reveal .slides > section.present").first.inner_text()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(800)
    second = page.locator(".reveal .slides > section.present").first.inner_text()
    assert first != second, "the arrow key did not move to the next slide"
    assert page.evaluate("() => typeof MathJax !== 'undefined'"), "MathJax (served locally) did not load"
    assert not page.evaluate(BROKEN_IMAGES_JS)
    page.screenshot(path=str(ARTIFACTS / "slides.png"))
    # Every slide show of the list starts, with every script and font served by the site.
    page.goto(f"{served_site}/index.html")
    page.locator("a.primer-slides-index").click()
    shows = [page.evaluate("a => a.href", a) for a in page.query_selector_all("li a")]
    assert len(shows) == len(ASSIGNMENTS), f"slides index lists {len(shows)} slide shows"
    for show in shows:
        page.goto(show)
        page.wait_for_selector(".reveal.ready", timeout=30_000)
        page.wait_for_load_state("networkidle")
        assert page.locator(".reveal .slides > section").count() >= 2, show
        assert not page.evaluate(BROKEN_IMAGES_JS), show
    assert not watch.problems, "\n".join(watch.problems)
    context.close()
