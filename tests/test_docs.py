"""The docs site: every results page and the README's at-a-glance block match the committed runs, and the site
builds with ``mkdocs build --strict`` (a broken link or a missing page fails)."""

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_results_pages_are_current():
    out = subprocess.run([sys.executable, "scripts/docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_site_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[docs]' (make test does)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for needed in ("make demo", "make test", "## Quick start", "## Results at a glance", "## Citing"):
        assert needed in text


class _Page(HTMLParser):
    """What the built page shows: text outside code, text inside <pre>, emphasised text, links and images."""

    def __init__(self):
        super().__init__()
        self.stack, self.pre, self.text, self.em, self.links, self.imgs = [], [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])
        if tag == "em":
            self.em.append("")

    def handle_endtag(self, tag):
        while tag in self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if "pre" in self.stack:
            self.pre.append(data)
        elif "code" not in self.stack:
            self.text.append(data)
        if "em" in self.stack and self.em:
            self.em[-1] += data


VERDICT = re.compile(r"\b(PASS|FAIL|NOT DECIDED|NOT TESTED|VACUOUS|NO EFFECT)\b")


def test_the_built_pages_read_as_intended(tmp_path):
    """Issue 38: after `mkdocs build --strict`, every built page is parsed. It fails on a <pre> holding verdict words
    or list markers (Markdown indented into a code block), a literal ** (emphasis that did not render), a formula's
    star lost to emphasis (y*⁽ᵐ⁾ read as italics), a link that does not resolve in the site, and a results page
    that does not show every figure its run has."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(site)], cwd=ROOT, capture_output=True,
                         text=True, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    problems = []
    for page in sorted(site.rglob("*.html")):
        if page.name == "404.html" or "assets" in page.parts:
            continue
        p = _Page()
        p.feed(page.read_text())
        rel, pre, text = page.relative_to(site), "".join(p.pre), "".join(p.text)
        if VERDICT.search(pre) or re.search(r"^\s*[*-] ", pre, re.M):
            problems.append(f"{rel}: a code block holds verdicts or list markers")
        if "**" in text:
            problems.append(f"{rel}: a literal **")
        problems += [f"{rel}: a formula lost to emphasis ({e[:30]!r})" for e in p.em if re.search("[⁽⁾ᵐ]", e)]
        for href in p.links:
            target = href.split("#")[0]
            if target and not href.startswith(("http", "mailto")):
                resolved = (page.parent / target).resolve()
                if not (resolved.exists() or (resolved / "index.html").exists()):
                    problems.append(f"{rel}: broken link {href}")
        problems += [f"{rel}: missing image {s}" for s in p.imgs if not (page.parent / s).resolve().exists()]
    from empirical.experiments.common import registry

    for entry in registry.entries():
        page_mod = registry.experiment(entry.kind).page
        built = site / Path(page_mod.PAGE).relative_to("docs").with_suffix("") / "index.html"
        html = built.read_text()
        for run in getattr(page_mod, "FIGURES", ()):
            for png in (ROOT / run / "figures").glob("*.png"):
                if f"{Path(run).name}/figures/{png.name}" not in html:
                    problems.append(f"{built.relative_to(site)}: does not show {run}/figures/{png.name}")
    assert not problems, "\n".join(problems[:20])
