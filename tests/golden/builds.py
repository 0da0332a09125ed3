"""The build folders whose bytes must not change when the compiler is
restructured: the examples and fixtures, compiled with `hwc compile` at several
foldings and both ROM styles. `python -m tests.golden.builds --write` records
the SHA-256 of every file of every build in `builds.json`; the test
`tests/e2e/test_build_identity.py` rebuilds them and compares.

The manifest is a regression record, not an oracle: it says "the same bytes as
the reviewed commit", and a deliberate change of output re-records it (with the
reason in the commit message).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Path(__file__).with_name("builds.json")

MODELS = {
    "mlp": ["tests/fixtures/mlp.onnx"],
    "cnn": ["tests/fixtures/cnn.onnx"],
    "cnn_dynamic": ["tests/fixtures/cnn_dynamic.onnx", "--shape", "input=1x3x16x16"],
    "digits": ["examples/digits_mlp/model.onnx", "--calib", "examples/digits_mlp/calib.npz"],
}
FOLDINGS = {
    "full": ["--fold", "full"],
    "min": ["--fold", "min"],
    "fps": {"mlp": ["--target-fps", "1e6"], "digits": ["--target-fps", "1e5"],
            "cnn": ["--target-fps", "5e4"], "cnn_dynamic": ["--target-fps", "2e5"]},
    "mult": ["--max-multipliers", "64"],
}
ROMS = ("logic", "memory")

QUICK = ["mlp-fps-memory", "cnn-fps-logic", "digits-full-logic", "cnn_dynamic-mult-memory"]
"""The builds the default test suite rebuilds (the rest: `--all`)."""


def configurations() -> dict[str, list[str]]:
    """Every build: name -> `hwc compile` arguments (without -o)."""
    configs = {}
    for model, model_args in MODELS.items():
        for folding, fold_args in FOLDINGS.items():
            fold_args = fold_args[model] if isinstance(fold_args, dict) else fold_args
            for rom in ROMS:
                configs[f"{model}-{folding}-{rom}"] = [*model_args, *fold_args, "--rom", rom]
    return configs


def digest_folder(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder`, keyed by its relative path."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def build(name: str, work: Path) -> dict[str, str]:
    """Compile configuration `name` into `work/name` through the real CLI; its digests."""
    import subprocess

    out = work / name
    command = [sys.executable, "-m", "compiler.cli", "compile", *configurations()[name], "-o", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return digest_folder(out)


def main(argv: list[str]) -> int:
    names = list(configurations()) if "--all" in argv or "--write" in argv else QUICK
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory() as work, ThreadPoolExecutor(2) as pool:
        digests = dict(zip(names, pool.map(lambda name: build(name, Path(work)), names)))
    if "--write" in argv:
        MANIFEST.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        return 0
    recorded = json.loads(MANIFEST.read_text())
    differ = [name for name in names if digests[name] != recorded[name]]
    for name in differ:
        changed = sorted(set(digests[name].items()) ^ set(recorded[name].items()))
        print(name, sorted({path for path, _ in changed}))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
