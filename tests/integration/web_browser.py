"""Helpers of the web app's browser tests and benchmark: a `laadplan serve` process on 127.0.0.1, headless
Debian Chromium through Playwright (never a downloaded browser), axe-core from the front-end's npm lock
file, and the folder for screenshots."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LAADPLAN_CHROMIUM", "/usr/bin/chromium")
FRONTEND = REPO / "src" / "laadplan" / "web" / "frontend"
AXE = FRONTEND / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("LAADPLAN_TEST_ARTIFACTS", REPO / "tmp" / "test-artifacts" / "web"))
CHROME_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]


def need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"SKIPPED LOUDLY: no Chromium at {CHROMIUM}: the web app's browser tests need Debian's chromium "
                    "(./dev test installs it as root)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("SKIPPED LOUDLY: playwright (Python) is not installed: pip install -e '.[test]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`laadplan serve` on 127.0.0.1 over a store file, stoppable and restartable."""

    def __init__(self, db: str, port: int | None = None) -> None:
        self.db, self.port = db, port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = Path(db).with_suffix(".serve.log")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90) -> "Server":
        env = {**os.environ, "LAADPLAN_DB": self.db}
        self.proc = subprocess.Popen([sys.executable, "-m", "laadplan.cli", "--db", self.db, "serve", "--host",
                                      "127.0.0.1", "--port", str(self.port), "--graceful-s", "2"],
                                     env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"laadplan serve stopped: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/api/ready", timeout=2).status_code == 200:
                    return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"laadplan serve did not answer in {timeout_s} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        try:
            yield b
        finally:
            b.close()


def new_page(b, **kw):
    # bypass_csp: axe-core is injected as an inline script; the app's own pages run under their CSP otherwise
    ctx = b.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True, locale="nl-NL", **kw)
    page = ctx.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    return page


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(p), full_page=True)
    print(f"screenshot: {p}")
    return p


def login(page, base: str, token: str, back: str = "/web/") -> None:
    page.goto(f"{base}/web/inloggen?terug={back}")
    page.fill("#token", token)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}{back}")


def wait_map(page, sel: str = "#map", timeout_ms: int = 120_000) -> None:
    page.wait_for_selector(f"{sel}[data-ready=ja]", state="attached", timeout=timeout_ms)


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations on the page (WCAG 2.1 A/AA rules)."""
    if not AXE.is_file():
        if shutil.which("npm") is None:
            pytest.skip("SKIPPED LOUDLY: npm is absent, so axe-core (from the front-end's package-lock.json) is "
                        "not installed: the accessibility check did not run")
        raise AssertionError(f"axe-core missing at {AXE}: run `npm ci` in {FRONTEND} (./dev setup does)")
    page.add_script_tag(content=AXE.read_text())
    res = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations.map(v => ({id: v.id,
        impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    return [v for v in res if v["impact"] in ("serious", "critical")]
