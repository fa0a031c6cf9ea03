"""Packaging: environment.yml mirrors pyproject.toml; every CLI command has --help."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from cs_analysis.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _split(req: str) -> tuple[str, str]:
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)", req.strip())
    assert m, req
    return m.group(1).lower(), m.group(3).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    wanted = dict(_split(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"])
    assert {k: conda.get(k) for k in wanted} == wanted
    assert conda["python"] == project["requires-python"]
    assert "-e .[dev]" in pip


def test_data_and_reports_keep_only_readmes():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    for folder in ("data", "reports"):
        assert f"{folder}/*" in ignore and f"!{folder}/README.md" in ignore
        assert (ROOT / folder / "README.md").exists()


def test_docs_describe_every_contract_column():
    from cs_analysis.data.schema import TABLES

    doc = (ROOT / "docs" / "data-contract.md").read_text()
    sections = {s.split(" —")[0].strip("* "): s for s in doc.split("\n### ")[1:]}
    for table in TABLES:
        section = sections[table.name]
        assert ("**" in section.splitlines()[0]) == table.required, table.name
        for col in table.columns:
            assert f"| {col.name} |" in section, f"{table.name}.{col.name}"


COMMANDS = list(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: cs-analysis" in capsys.readouterr().out
