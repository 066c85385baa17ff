"""The install files agree with each other and with the README's two commands."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    out = {}
    for line in lines:
        line = line.strip().lstrip("-").strip()
        if not line or line.startswith("#") or line.startswith("-e") or "==" not in line:
            continue
        name, ver = line.split("==")
        out[name.lower().replace("_", "-")] = ver.strip()
    return out


def test_requirements_and_environment_yml_agree():
    req = pins((ROOT / "requirements.txt").read_text().splitlines())
    env_text = (ROOT / "environment.yml").read_text()
    pip_section = env_text.split("- pip:", 1)[1].splitlines()
    env = pins(pip_section)
    assert req == env
    assert req["torch"] == "2.13.0"
    for must in ("jupyterlab", "ipywidgets", "matplotlib", "plotly", "nbval", "pytest", "papermill", "tqdm",
                 "scipy", "scikit-learn", "pybullet"):
        assert must in req, must


def test_readme_names_the_two_commands_and_ci_calls_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", make, re.M) and re.search(r"^test:", make, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_notebook_is_listed_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert nb.name in readme, f"{nb.name} missing from README"
