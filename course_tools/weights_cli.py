"""Prepare the ImageNet VGG19 weights once, so that a classroom runs offline (``make weights``)::

    python -m course_tools.weights_cli status        # what is there, what would be used
    python -m course_tools.weights_cli fetch         # download into torch's cache (progress bar)
    python -m course_tools.weights_cli install FILE  # check a copied file, put it in the cache
    python -m course_tools.weights_cli verify        # hash and load check of what would be used
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from course_utils import weights
from course_utils.files import atomic_path
from course_utils.weights import SHA256_PREFIX, WeightsError


def install(src: str | os.PathLike, dest: str | os.PathLike | None = None,
            expected_sha256_prefix: str = SHA256_PREFIX) -> Path:
    """Check a copied weights file (hash and load) and copy it into the cache atomically."""
    weights.load_vgg19_state(src, expected_sha256_prefix, origin="the file to install")
    target = Path(dest) if dest is not None else weights.cache_path()
    with atomic_path(target) as tmp:
        shutil.copyfile(src, tmp)
        if weights.sha256_of(tmp) != weights.sha256_of(src):
            raise WeightsError(f"Copying '{src}' to '{target}' changed it; check the disk and retry.")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.weights_cli",
                                     description="Prepare the ImageNet VGG19 weights once, so that the course runs offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="say where the weights would come from")
    sub.add_parser("fetch", help="download into torch's hub cache (progress bar)")
    p_inst = sub.add_parser("install", help="check a copied file and put it in the cache")
    p_inst.add_argument("file")
    p_ver = sub.add_parser("verify", help="hash- and load-check the file that would be used")
    p_ver.add_argument("file", nargs="?")
    for p in (p_inst, p_ver):
        p.add_argument("--expected-sha256", default=SHA256_PREFIX, metavar="PREFIX",
                       help=f"start of the expected SHA-256 (default: torchvision's {SHA256_PREFIX})")
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            print(weights.status())
        elif args.command == "fetch":
            print(f"OK: downloaded and verified {weights.download()}")
        elif args.command == "install":
            print(f"OK: verified and installed {install(args.file, expected_sha256_prefix=args.expected_sha256)}")
        elif args.command == "verify":
            found = weights.locate(args.file)
            if found is None:
                print(f"No VGG19 weights file found ({weights.status().splitlines()[2]}); "
                      f"{weights.FIX}.", file=sys.stderr)
                return 1
            weights.load_vgg19_state(found.path, args.expected_sha256, found.origin)
            print(f"OK: {found.path} (from {found.origin}) is torchvision's VGG19 and loads")
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
