"""Vendors the page's JavaScript libraries from npm into builder/view/static/vendor/
(`cli.py serve` fetches nothing from the internet at run time):

    python tools/vendor_js.py            # download the pinned versions with `npm pack`, copy their files
    python tools/vendor_js.py --check    # exit 1 if a vendored file differs from VENDORED.json

VENDORED.json records each package, its version, npm's integrity hash of the
tarball and the SHA-256 of every file copied; a test checks the files against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENDOR = os.path.join(ROOT, "builder", "view", "static", "vendor")
MANIFEST = os.path.join(VENDOR, "VENDORED.json")
# package@version -> {file in the package: name here}
PACKAGES = {
    "@dagrejs/dagre@3.1.3": {"dist/dagre.min.js": "dagre.min.js", "LICENSE": "dagre.LICENSE"},
    "uplot@1.6.32": {"dist/uPlot.iife.min.js": "uPlot.iife.min.js", "dist/uPlot.min.css": "uPlot.min.css",
                     "LICENSE": "uPlot.LICENSE"},
}


def sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def vendor() -> dict:
    manifest = {}
    with tempfile.TemporaryDirectory() as work:
        for package, files in PACKAGES.items():
            packed = json.loads(subprocess.run(["npm", "pack", package, "--json"], cwd=work, check=True,
                                               capture_output=True, text=True).stdout)[0]
            with tarfile.open(os.path.join(work, packed["filename"])) as tar:
                tar.extractall(os.path.join(work, packed["name"]), filter="data")
            for inner, name in files.items():
                shutil.copyfile(os.path.join(work, packed["name"], "package", inner), os.path.join(VENDOR, name))
            manifest[package] = {"integrity": packed["integrity"],
                                 "files": {name: sha256(os.path.join(VENDOR, name)) for name in files.values()}}
    return manifest


def check() -> list[str]:
    """The vendored files that are missing or differ from the manifest."""
    with open(MANIFEST) as handle:
        manifest = json.load(handle)
    stale = []
    for package, entry in manifest.items():
        for name, digest in entry["files"].items():
            path = os.path.join(VENDOR, name)
            if not os.path.exists(path) or sha256(path) != digest:
                stale.append(f"{name} ({package})")
    return stale


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        stale = check()
        print("\n".join(stale) or "vendored files match VENDORED.json")
        sys.exit(1 if stale else 0)
    os.makedirs(VENDOR, exist_ok=True)
    with open(MANIFEST, "w") as out:
        json.dump(vendor(), out, indent=1)
        out.write("\n")
    print(f"wrote {os.path.relpath(MANIFEST, ROOT)}")
