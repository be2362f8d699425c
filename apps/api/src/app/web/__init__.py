"""The web page's files: one HTML shell (Jinja2), hand-written CSS and ES modules. No build step."""

from __future__ import annotations

from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
