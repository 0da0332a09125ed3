"""Render a build's report.html in headless Chromium and save a screenshot, to see
the page as a person would (the dataflow graph, the bars, the tables).

    python benchmarks/screenshot_report.py [BUILD] [-o report.png]

Without BUILD it compiles the CNN fixture (`--target-fps 5e4`) into a temporary
folder first. Needs a Chromium (`chromium`, `chromium-browser` or
`google-chrome` on PATH; Debian: apt-get install chromium); prints the PNG's path.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 4800) -> None:
    """Headless Chromium's screenshot of `page` (a local file) into `png`."""
    browser = find_browser()
    if browser is None:
        raise SystemExit("no Chromium on PATH (tried " + ", ".join(BROWSERS) + ")")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--window-size={width},{height}", f"--screenshot={png.resolve()}", page.resolve().as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    if not png.is_file():
        raise SystemExit(f"Chromium wrote no screenshot of {page}")


def compile_cnn(folder: Path) -> Path:
    build = folder / "cnn"
    subprocess.run([sys.executable, "-m", "compiler.cli", "compile", str(ROOT / "tests" / "fixtures" / "cnn.onnx"),
                    "--target-fps", "5e4", "-o", str(build)], check=True, cwd=ROOT, capture_output=True)
    return build


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, nargs="?", help="a build folder (default: compile the CNN fixture)")
    parser.add_argument("-o", "--output", type=Path, default=Path("report.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        build = args.build or compile_cnn(Path(scratch))
        screenshot(build / "report.html", args.output)
    print(args.output.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
