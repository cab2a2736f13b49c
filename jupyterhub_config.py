"""JupyterHub for "A primer on ML/DL with a focus on Neuroscience".

`make hub` starts it with the local demo defaults (127.0.0.1:8000, demo
accounts). Every setting comes from primer/hub/config.py and is changed
through PRIMER_* environment variables (see primer/hub/runtime.py,
primer/hub/auth.py and docs/workshop.md, "Running the course hub for a real
workshop").
"""
from pathlib import Path

from primer.hub.config import configure

c = get_config()  # noqa: F821 (provided by JupyterHub)
configure(c, repo=Path(__file__).resolve().parent)
