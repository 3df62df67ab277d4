"""Where the project's files are, independent of the working directory a chapter runs in.
``ACTLAB_ROOT`` points the build at another checkout (the tests build throw-away books)."""
import os
from pathlib import Path

ROOT = Path(os.environ.get("ACTLAB_ROOT") or Path(__file__).resolve().parents[2])  # src/actlab/paths.py -> root
CHAPTERS = ROOT / "chapters"
BUILD = ROOT / "_build"
SRC = ROOT / "src"
LOCK = ROOT / "requirements.lock"
PROFILES = CHAPTERS / "profiles.toml"


def out_dir(profile: str) -> Path:
    """A profile's build folder: the full book's is _build itself."""
    return BUILD if profile == "full" else BUILD / profile
