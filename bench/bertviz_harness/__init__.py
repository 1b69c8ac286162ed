"""bertviz's head view as a local page, for bench/render.py.

bertviz is what the panel's first paint is measured against. It is not a project dependency: the
benchmark installs it (and the d3 / jQuery / require.js copies its page loads from a CDN) on first
use, rewrites the CDN URLs to local copies (nothing outside 127.0.0.1 is reachable here) and serves
the pages from a local HTTP server.
"""

import functools
import http.server
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
NPM_PREFIX = os.path.join(BENCH, ".cache", "npm")  # git-ignored
PROBE_JS = os.path.join(HERE, "probe.js")

# bertviz 1.4's pip requirements name boto3, sentencepiece, a torch of its own choosing, ...;
# head_view needs only IPython.display (and the torch we already have), so it is installed
# without dependencies and IPython is added by hand.
BERTVIZ_REQUIREMENT = "bertviz>=1.4,<1.5"

CDN_URL = re.compile(r"https://cdnjs\.cloudflare\.com/ajax/libs/(?P<lib>[^/]+)/(?P<version>[^/]+)/(?P<file>[^'\"\s]+)")
# cdnjs library name -> (npm package, file inside the npm package without ".js").
NPM_FILES = {
    "require.js": ("requirejs", "require"),  # npm ships it unminified only
    "d3": ("d3", "dist/d3.min"),
    "jquery": ("jquery", "dist/jquery.min"),
}


def ensure_bertviz():
    """Import bertviz, installing it into this interpreter's environment when missing."""
    try:
        return importlib.import_module("bertviz")
    except ImportError:
        pass
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    print("installing %s (benchmark only) ..." % BERTVIZ_REQUIREMENT, flush=True)
    subprocess.run(pip + ["--no-deps", BERTVIZ_REQUIREMENT], check=True)
    try:
        importlib.import_module("IPython.display")
    except ImportError:
        subprocess.run(pip + ["ipython"], check=True)
    importlib.invalidate_caches()
    return importlib.import_module("bertviz")


def head_view_html(attentions, tokens, include_layers=None):
    """The HTML bertviz's `head_view(..., html_action="return")` produces, as a string."""
    bertviz = ensure_bertviz()
    return bertviz.head_view(attentions, tokens, include_layers=include_layers, html_action="return").data


def cdn_libraries(html):
    """{cdnjs library: version} of every CDN URL in the page."""
    found = {}
    for m in CDN_URL.finditer(html):
        if m.group("lib") not in NPM_FILES:
            raise RuntimeError("bertviz loads an unexpected library from the CDN: %s" % m.group(0))
        found[m.group("lib")] = m.group("version")
    return found


def _npm(*args, capture=False):
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch bertviz's d3 / jQuery / require.js")
    return subprocess.run([npm, *args], check=True, text=True, stdout=subprocess.PIPE if capture else None)


def _npm_version(package, wanted):
    """`wanted` if npm has it, else the oldest later release of the same major version
    (jQuery 2.0.0, which bertviz names, was never published to npm; 2.1.0 is the first 2.x)."""
    versions = json.loads(_npm("view", package, "versions", "--json", capture=True).stdout)
    if wanted in versions:
        return wanted

    def key(v):
        return tuple(int(x) for x in v.split("."))

    plain = [v for v in versions if re.fullmatch(r"\d+\.\d+\.\d+", v)]
    later = sorted((v for v in plain if v.split(".")[0] == wanted.split(".")[0] and key(v) >= key(wanted)), key=key)
    if not later:
        raise RuntimeError("npm has no %s release close to %s" % (package, wanted))
    return later[0]


def ensure_assets(libraries):
    """Install the npm copies of `libraries` ({cdnjs library: version}) under bench/.cache/npm;
    returns {cdnjs library: (cdn version, npm version)}."""
    installed = {}
    manifest_path = os.path.join(NPM_PREFIX, "bertviz-assets.json")
    try:
        with open(manifest_path) as f:
            installed = json.load(f)
    except (OSError, ValueError):
        installed = {}
    chosen = {}
    missing = []
    for lib, version in sorted(libraries.items()):
        package, path = NPM_FILES[lib]
        entry = installed.get(lib)
        on_disk = os.path.isfile(os.path.join(NPM_PREFIX, "node_modules", package, path + ".js"))
        if entry and entry[0] == version and on_disk:
            chosen[lib] = tuple(entry)
            continue
        npm_version = _npm_version(package, version)
        chosen[lib] = (version, npm_version)
        missing.append("%s@%s" % (package, npm_version))
    if missing:
        os.makedirs(NPM_PREFIX, exist_ok=True)
        print("npm install %s ..." % " ".join(missing), flush=True)
        _npm("install", "--silent", "--no-audit", "--no-fund", "--prefix", NPM_PREFIX, *missing)
        installed.update({lib: list(v) for lib, v in chosen.items()})
        with open(manifest_path, "w") as f:
            json.dump(installed, f, indent=1)
    return chosen


def localize(html):
    """The page with every CDN URL pointing at the local npm copies (served under /node_modules/)."""

    def local(m):
        package, path = NPM_FILES[m.group("lib")]
        # require.js paths leave ".js" off; the <script src> keeps it.
        suffix = ".js" if m.group("file").endswith(".js") else ""
        return "/node_modules/%s/%s%s" % (package, path, suffix)

    out = CDN_URL.sub(local, html)
    # Quoted URLs are what the page loads (the script's comments cite URLs too, unquoted).
    remote = re.search(r"[\"']https?://[^\"']*", out)
    if remote:
        raise RuntimeError("the bertviz page still loads something remote: %s" % remote.group(0)[:200])
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class StaticServer:
    """Serves `root` (pages) and bench/.cache/npm/node_modules (as /node_modules/) on 127.0.0.1."""

    def __init__(self, root):
        self.root = root
        link = os.path.join(root, "node_modules")
        if not os.path.exists(link):
            os.symlink(os.path.join(NPM_PREFIX, "node_modules"), link)
        handler = functools.partial(_QuietHandler, directory=root)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def probe_script(config):
    """The init script bench/render.py adds to every page: `config` then bench/bertviz_harness/probe.js."""
    with open(PROBE_JS) as f:
        return "window.__benchConfig = %s;\n%s" % (json.dumps(config), f.read())
