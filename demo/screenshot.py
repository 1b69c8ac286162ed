"""Screenshot of the Attention panel over a logdir (the README's picture): `python -m demo.screenshot`.

Starts TensorBoard on 127.0.0.1, opens the Attention tab in Debian's Chromium (playwright with
`executable_path`), optionally hovers a token, and writes a PNG. Run `python -m demo --no-serve` first.
The importance view (docs/panel-importance.png): `--view Patterns --metric importance --hover -1
--height 1000 --click ".formed-list tr[data-label='important'][data-change='formed']" --out docs/panel-importance.png`.
"""

import argparse
import socket
import subprocess
import sys
import time
import urllib.request

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m demo.screenshot", description=__doc__.splitlines()[0])
    p.add_argument("--logdir", default="runs/demo")
    p.add_argument("--out", default="docs/panel.png")
    p.add_argument("--run", default="trainer", help="the run to show: the first whose name starts with this")
    p.add_argument("--tag", default="probe/store")
    p.add_argument("--layer", default="3")
    p.add_argument("--view", default="Head", help="Head, Model, Matrix, Compare, Patterns, Rollout or Query/Key")
    p.add_argument("--head", type=int, default=None, help="show only this head (double-clicks its square)")
    p.add_argument("--query", type=int, default=None, help="Query/Key view: the query token to pick")
    p.add_argument("--compare", default=None, help="Query/Key view: the step to compare with")
    p.add_argument("--metric", default=None, help="the Patterns view's metric (e.g. importance)")
    p.add_argument("--click", action="append", default=[], help="click every element this selector matches")
    p.add_argument("--hover", type=int, default=5, help="index of the left token to hover (-1: none)")
    p.add_argument("--height", type=int, default=860, help="the page's height in CSS pixels")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    return p.parse_args(argv)


def _start_tensorboard(logdir):
    """A TensorBoard process on a free port of 127.0.0.1 over `logdir`, and its URL."""
    port = _free_port()
    tb = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return tb, "http://127.0.0.1:%d" % port


def _wait_for_tensorboard(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/data/plugin/tb_attention/tags", timeout=2).read()
            break
        except OSError:
            time.sleep(0.2)
    time.sleep(3)  # let TensorBoard finish loading the logdir


def _choose(frame, args):
    """Choose what to show with the panel's own controls, as a user would."""
    runs = frame.locator(".run-select option").evaluate_all("options => options.map(o => o.value)")
    frame.locator(".run-select").select_option(next(r for r in runs if r.startswith(args.run)))
    time.sleep(1.5)
    frame.locator(".tag-select").select_option(args.tag)
    time.sleep(1.5)
    frame.locator(".layer-select").select_option(args.layer)
    time.sleep(1.5)
    if args.head is not None:
        frame.locator('.head-square[data-head="%d"]' % args.head).dblclick()
        time.sleep(1.5)
    if args.view != "Head":
        frame.get_by_role("tab", name=args.view, exact=True).click()
        time.sleep(2.5)
    if args.query is not None:
        frame.locator('.qk-query[data-index="%d"]' % args.query).click()
        time.sleep(1.5)
    if args.compare is not None:
        frame.locator(".qk-step-b").select_option(args.compare)
        time.sleep(1.5)
    if args.metric:
        frame.locator(".metric-select").select_option(args.metric)
        time.sleep(2.5)


def _click_and_hover(page, frame, args):
    """Click every element of each `--click` selector, then hover the `--hover` token."""
    for selector in args.click:
        for i in range(frame.locator(selector).count()):
            frame.locator(selector).nth(i).click()
            time.sleep(1.5)
        page.mouse.move(0, 0)  # no row left under the pointer (hover highlight)
        time.sleep(0.5)
    if args.hover >= 0:
        frame.locator(".hv-left .tok").nth(args.hover).hover()
        time.sleep(0.5)


def _screenshot(pw, url, args):
    """Open the Attention tab at `url` in Chromium, set it up as `args` say and write `args.out`."""
    browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": args.height})
    page.goto(url + "/#tb_attention")
    frame = page.frame_locator("iframe")
    frame.locator(".hv-left .tok-text").first.wait_for(timeout=60000)
    _choose(frame, args)
    _click_and_hover(page, frame, args)
    page.screenshot(path=args.out)
    browser.close()


def main(argv=None):
    args = _parse_args(argv)

    from playwright.sync_api import sync_playwright

    tb, url = _start_tensorboard(args.logdir)
    try:
        _wait_for_tensorboard(url)
        with sync_playwright() as pw:
            _screenshot(pw, url, args)
        print("wrote", args.out)
    finally:
        tb.terminate()
        tb.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
