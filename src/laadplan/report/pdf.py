"""Headless Chromium: print the report to PDF, or dump its DOM after its scripts ran (for checks)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_path() -> str | None:
    for p in CHROMIUM_CANDIDATES:
        if Path(p).exists():
            return p
    return shutil.which("chromium")


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("headless Chromium not found (/usr/bin/chromium); install it: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="laadplan-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Chromium did not finish within {timeout_s:.0f} s") from None


def html_to_pdf(html_path: Path, pdf_path: Path, timeout_s: float = 120) -> Path:
    """Print ``html_path`` to ``pdf_path`` (A4, the report's print CSS)."""
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)
    r = _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf_path}", html_path.as_uri()], timeout_s)
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no PDF for {html_path} (exit {r.returncode}): "
                           f"{r.stderr.decode(errors='replace')[-500:]}")
    log.info("PDF written to %s", pdf_path)
    return pdf_path


def dump_dom(html_path: Path, timeout_s: float = 120) -> str:
    """The DOM of ``html_path`` after its scripts ran (``--dump-dom``)."""
    r = _run(["--virtual-time-budget=5000", "--dump-dom", Path(html_path).resolve().as_uri()], timeout_s)
    if r.returncode != 0:
        raise RuntimeError(f"Chromium failed on {html_path}: {r.stderr.decode(errors='replace')[-500:]}")
    return r.stdout.decode("utf-8", errors="replace")
