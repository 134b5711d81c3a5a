"""Headless Chromium for the report tests (Debian's ``chromium`` + ``chromium-driver``, driven by
``selenium``), started offline with a fresh profile. ``driver()`` raises ``Unavailable`` with the
reason when any piece is missing, so a test can skip saying why.

Also a script, to take the screenshot in docs/:
    python tests/browser.py report.html docs/report.png [--width 1440] [--height 2000] [--palette] [--expand NAME]
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
         # nothing may load from the network: every host name resolves to nowhere
         "--host-resolver-rules=MAP * ~NOTFOUND"]


class Unavailable(Exception):
    pass


def find_binaries() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    chromedriver = shutil.which("chromedriver")
    if not browser or not chromedriver:
        raise Unavailable("headless Chromium is not installed (apt-get install -y chromium chromium-driver; "
                          f"found browser={browser}, chromedriver={chromedriver})")
    return browser, chromedriver


def driver(width: int = 1440, height: int = 1000):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise Unavailable(f"selenium is not installed (pip install selenium): {exc}") from None
    browser, chromedriver = find_binaries()
    profile = tempfile.mkdtemp(prefix="modeltree-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS + [f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console errors, read by the tests
    try:
        d = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    except Exception as exc:  # noqa: BLE001 - any start failure is a reason to skip, stated
        shutil.rmtree(profile, ignore_errors=True)
        raise Unavailable(f"headless Chromium did not start: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    d._modeltree_profile = profile
    return d


def quit(d) -> None:
    try:
        d.quit()
    finally:
        shutil.rmtree(getattr(d, "_modeltree_profile", ""), ignore_errors=True)


def open_report(d, path: Path, timeout: float = 30.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    d.get(Path(path).resolve().as_uri())
    WebDriverWait(d, timeout).until(lambda x: x.execute_script(
        "return !!(window.modeltreeReport && window.modeltreeReport.painted)"))


def full_page_png(d, out: Path, width: int, height: int | None = None) -> None:
    """A screenshot of the page from its top, ``height`` pixels tall (default: the whole page)."""
    full = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(width, min(full, height) if height else full)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": min(full, height) if height else full, "deviceScaleFactor": 1, "mobile": False})
    d.save_screenshot(str(out))


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="screenshot a report page with headless Chromium")
    ap.add_argument("html")
    ap.add_argument("png")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=None, help="crop to this height (default: the whole page)")
    ap.add_argument("--palette", action="store_true", help="write a 256-colour PNG (a third of the size)")
    ap.add_argument("--expand", action="append", default=[], metavar="NAME",
                    help="open this module's row (data-n) before the shot (repeatable)")
    args = ap.parse_args(argv)
    d = driver(args.width, 1000)
    try:
        open_report(d, Path(args.html))
        for name in args.expand:
            d.execute_script("var e = document.querySelector('#tree-rows [data-n=\"' + arguments[0] + '\"]');"
                             "if (e) e.classList.add('o');", name)
        full_page_png(d, Path(args.png), args.width, args.height)
    finally:
        quit(d)
    if args.palette:
        from PIL import Image

        image = Image.open(args.png).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(args.png, optimize=True)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
