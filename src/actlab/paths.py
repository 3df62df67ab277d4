"""Where the project's files are, independent of the working directory a chapter runs in."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # src/actlab/paths.py -> project root (editable install)
CHAPTERS = ROOT / "chapters"
BUILD = ROOT / "_build"
SRC = ROOT / "src"
LOCK = ROOT / "requirements.lock"
PROFILES = CHAPTERS / "profiles.toml"
