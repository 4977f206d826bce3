"""The yearly progress report (voortgangsrapportage): self-contained HTML from the store, PDF via headless
Chromium. See :mod:`laadplan.report.builder`."""

from laadplan.report.builder import build_report  # noqa: F401
from laadplan.report.pdf import chromium_path, dump_dom, html_to_pdf  # noqa: F401
