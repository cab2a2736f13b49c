"""Write the user image's requirements and constraints: the course's pins, with JupyterHub at the hub's version.

Zero to JupyterHub 4.4.0's hub image runs JupyterHub 5.5.0, and a user server's
jupyterhub-singleuser must have the hub's major version. The course pins
JupyterHub 6 (pyproject.toml, constraints.txt) for the local hub; the user
image takes every other package at the course's version, JupyterHub at the
hub's, then installs the course package without dependencies (Dockerfile.user).

    python3 deploy/kubernetes/hub/image_requirements.py . /tmp   # -> /tmp/requirements.txt, /tmp/constraints.txt
"""
import re
import sys
import tomllib
from pathlib import Path

CHART_VERSION = "4.4.0"
HUB_JUPYTERHUB = "5.5.0"  # the chart's appVersion: its hub image's JupyterHub
PIN = re.compile(r"^jupyterhub==\S+$", re.MULTILINE)


def _with_hub_version(text: str, source: str) -> str:
    if len(PIN.findall(text)) != 1:
        raise SystemExit(f"{source}: expected exactly one jupyterhub==... pin")
    return PIN.sub(f"jupyterhub=={HUB_JUPYTERHUB}", text)


def image_requirements(repo: Path) -> tuple[str, str]:
    """(requirements.txt, constraints.txt) for the user image, from ``repo``'s pins."""
    with open(repo / "pyproject.toml", "rb") as handle:
        dependencies = list(dict.fromkeys(tomllib.load(handle)["project"]["dependencies"]))
    requirements = _with_hub_version("\n".join(dependencies) + "\n", "pyproject.toml")
    constraints = _with_hub_version((repo / "constraints.txt").read_text(), "constraints.txt")
    return requirements, constraints


if __name__ == "__main__":
    repo, out = (Path(a) for a in sys.argv[1:3])
    requirements, constraints = image_requirements(repo)
    (out / "requirements.txt").write_text(requirements)
    (out / "constraints.txt").write_text(constraints)
