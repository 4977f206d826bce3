"""The web app's front-end assets shipped in the package (src/laadplan/web/static) are exactly what
`npm ci && npm run build` makes from the sources and the lock file (issue 16: reproducible build, shipped
assets match the sources). Skipped with a loud message only when npm is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from laadplan.web import STATIC

FRONTEND = Path(__file__).resolve().parents[2] / "src" / "laadplan" / "web" / "frontend"
BUILT = ("app.js", "app.css", "maplibre-gl.css", "favicon.svg")


def test_lock_file_pins_every_package_and_nothing_comes_from_a_cdn():
    lock = json.loads((FRONTEND / "package-lock.json").read_text())
    pkgs = lock["packages"]
    for name in ("maplibre-gl", "esbuild", "axe-core"):
        entry = pkgs[f"node_modules/{name}"]
        assert entry["version"] and entry["integrity"].startswith("sha512-"), name
    assert {p.name for p in STATIC.iterdir()} >= set(BUILT)
    for f in BUILT:
        text = (STATIC / f).read_text(errors="replace")
        assert "unpkg.com" not in text and "cdn.jsdelivr.net" not in text and "cdnjs" not in text


@pytest.mark.slow
def test_shipped_assets_match_a_rebuild_from_the_lock_file(tmp_path):
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("SKIPPED LOUDLY: npm is absent: the shipped front-end bundle was NOT checked against a rebuild "
                    "from package-lock.json (install Node.js/npm to run this check)")
    work = tmp_path / "frontend"
    work.mkdir()
    for f in ("package.json", "package-lock.json", "build.mjs"):
        shutil.copy(FRONTEND / f, work / f)
    shutil.copytree(FRONTEND / "src", work / "src")
    out = tmp_path / "static"
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([npm, "run", "build"], cwd=work, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "LAADPLAN_WEB_OUT": str(out)})
    assert r.returncode == 0, r.stderr[-2000:]
    for f in BUILT:
        assert (out / f).read_bytes() == (STATIC / f).read_bytes(), (
            f"{f}: the shipped asset differs from a rebuild; run `npm ci && npm run build` in {FRONTEND} and commit")
