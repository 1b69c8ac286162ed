"""The panel's source never turns data into code or markup: no HTML sinks, no eval, no inline
script (TensorBoard's CSP forbids them), and every URL it fetches is relative. The browser checks
that the rendered panel shows markup tokens as text live in test_hardening_large.py."""

import pathlib
import re

import pytest

FRONTEND = pathlib.Path(__file__).resolve().parent.parent / "frontend"
SOURCES = sorted(p for p in FRONTEND.rglob("*") if p.suffix in (".js", ".css", ".html", ".svg"))

# Sinks that parse a string as HTML or JavaScript.
FORBIDDEN = {
    "innerHTML": r"\.innerHTML\b",
    "outerHTML": r"\.outerHTML\b",
    "insertAdjacentHTML": r"\binsertAdjacentHTML\b",
    "document.write": r"\bdocument\.write(ln)?\s*\(",
    "eval": r"(?<![\w.])eval\s*\(",
    "new Function": r"\bnew\s+Function\s*\(",
    "Function(": r"(?<![\w.])Function\s*\(",
    "string timer": r"\bset(Timeout|Interval)\s*\(\s*[\"'`]",
    "createContextualFragment": r"\bcreateContextualFragment\b",
    "parseFromString": r"\bparseFromString\b",
    "srcdoc": r"\bsrcdoc\b",
    "javascript: URL": r"javascript:",
    "import of a remote module": r"\bimport\s*\(?\s*[\"'`]https?:",
}


def _code(text):
    """The source without comments, so a comment naming a sink does not count."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(^|[^:\"'\\])//[^\n]*", r"\1", text)


def test_frontend_sources_exist():
    names = {p.name for p in SOURCES}
    assert "index.js" in names and len(SOURCES) >= 3


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(FRONTEND)) for p in SOURCES])
def test_no_html_or_script_sinks(path):
    code = _code(path.read_text(encoding="utf-8"))
    found = [name for name, pattern in FORBIDDEN.items() if re.search(pattern, code)]
    assert not found, "%s uses %s" % (path.name, found)


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if p.suffix == ".js"],
    ids=[str(p.relative_to(FRONTEND)) for p in SOURCES if p.suffix == ".js"],
)
def test_fetches_are_relative(path):
    """Absolute URLs would leave TensorBoard's --path_prefix and /experiment/<id>/ mounts."""
    code = _code(path.read_text(encoding="utf-8"))
    for match in re.finditer(r"\bfetch\s*\(\s*([\"'`])([^\"'`]*)", code):
        url = match.group(2)
        assert not re.match(r"(https?:)?//|/", url), "%s fetches %r" % (path.name, url)


def test_the_sink_scan_catches_what_it_should():
    """The patterns are live: each catches a sample line and skips it in a comment."""
    samples = {
        "innerHTML": "node.innerHTML = token;",
        "outerHTML": "x.outerHTML = y",
        "insertAdjacentHTML": "n.insertAdjacentHTML('beforeend', s)",
        "document.write": "document.write(s)",
        "eval": "const v = eval(s);",
        "new Function": "new Function('return 1')",
        "Function(": "Function('return 1')()",
        "string timer": "setTimeout('alert(1)', 0)",
        "createContextualFragment": "range.createContextualFragment(s)",
        "parseFromString": "new DOMParser().parseFromString(s, 'text/html')",
        "srcdoc": "frame.srcdoc = s",
        "javascript: URL": "a.href = 'javascript:alert(1)'",
        "import of a remote module": "import('https://cdn.example/x.js')",
    }
    assert set(samples) == set(FORBIDDEN)
    for name, line in samples.items():
        assert re.search(FORBIDDEN[name], _code(line)), name
        assert not re.search(FORBIDDEN[name], _code("// " + line)), name
