"""The README's Quick start is what CI runs: keep the two in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_quick_start_has_exactly_two_commands_an_install_and_a_test_run():
    commands = quick_start_commands()
    assert len(commands) == 2
    install, test = commands
    assert "pip install" in install and "debris " in install
    assert "pytest" in test


def test_ci_runs_the_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in quick_start_commands():
        assert command in ci


def test_every_sub_package_is_in_the_wheel():
    """pyproject lists the packages by hand (pipeline/ is installed as debris): a new folder must be added there."""
    listed = set(re.findall(r'"(debris(?:\.\w+)*)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8")))
    found = {"debris." + ".".join(p.parent.relative_to(ROOT / "pipeline").parts) if p.parent != ROOT / "pipeline" else "debris"
             for p in (ROOT / "pipeline").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
