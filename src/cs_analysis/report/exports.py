"""Formats people pass on: one Excel workbook of a run's tables, and a PDF of its quarterly
report printed by headless Chromium where it is installed (which also takes screenshots)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
from openpyxl.styles import Font

from cs_analysis.data.io import CSV_EXPORT_ENCODING, atomic_path, neutralise_formulas

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SHEET_CHARS = 31  # Excel's limit on a sheet name


def write_workbook(tables: Path, target: Path) -> int:
    """Every ``tables/*.csv`` of a run as one sheet of ``target`` (xlsx): bold, frozen header,
    whole numbers as ``#,##0`` and other numbers as ``#,##0.00``, columns sized to their text;
    text that Excel would run as a formula starts with ``'``. Returns the number of sheets."""
    files = sorted(tables.glob("*.csv"))
    if not files:
        return 0
    with atomic_path(target) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            used: set[str] = set()
            for file in files:
                frame = neutralise_formulas(pd.read_csv(file, encoding=CSV_EXPORT_ENCODING))
                name = file.stem[:SHEET_CHARS]
                while name in used:
                    name = f"{name[:SHEET_CHARS - 3]}_{len(used)}"
                used.add(name)
                frame.to_excel(writer, sheet_name=name, index=False)
                sheet = writer.sheets[name]
                sheet.freeze_panes = "A2"
                for cell in sheet[1]:
                    cell.font = Font(bold=True)
                for i, col in enumerate(frame.columns, start=1):
                    values = frame[col]
                    letter = sheet.cell(row=1, column=i).column_letter
                    width = max([len(str(col)), *values.astype(str).str.len().head(500).tolist()]) + 2
                    sheet.column_dimensions[letter].width = min(60, width)
                    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                        whole = values.dropna().mod(1).eq(0).all()
                        for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                            cell.number_format = "#,##0" if whole else "#,##0.00"
    return len(files)


def browser() -> str | None:
    """The headless Chromium (or Chrome) found on this machine, if any."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _headless(exe: str, profile: str, *args: str) -> list[str]:
    """A headless Chromium command line with a throwaway profile and no network chatter."""
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}", *args]


def _print(page: Path, target: Path, what: str, args: list[str], check: bytes, timeout: int,
           env: dict[str, str] | None) -> str | None:
    """``page`` rendered by headless Chromium into ``target`` (atomically), with ``args`` naming
    the temporary output; None when it worked, else one sentence saying why there is no ``what``."""
    exe = browser()
    if exe is None:
        return f"no {what}: Chromium is not installed (Debian: apt-get install chromium fonts-ipafont-gothic)"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / f"out{target.suffix}"  # Chromium picks the format by the file's suffix
        command = _headless(exe, str(Path(scratch) / "profile"), *[a.format(out=out) for a in args],
                            page.resolve().as_uri())
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"no {what}: Chromium did not finish ({type(exc).__name__})"
        if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            return f"no {what}: Chromium exited with {done.returncode}"
        if not out.read_bytes().startswith(check):
            return f"no {what}: Chromium wrote something else"
        with atomic_path(target) as tmp:
            shutil.copyfile(out, tmp)
    return None


def write_pdf(page: Path, target: Path, timeout: int = 180) -> str | None:
    """``page`` (an HTML file) printed to ``target`` by headless Chromium; None when it worked,
    else one sentence saying why there is no PDF (Chromium missing, or it failed)."""
    return _print(page, target, "PDF of the quarterly report", ["--no-pdf-header-footer", "--print-to-pdf={out}"],
                  b"%PDF-", timeout, None)


def screenshot(page: Path, target: Path, width: int = 1280, height: int = 4000, timeout: int = 120,
               env: dict[str, str] | None = None) -> str | None:
    """A PNG of ``page`` as a ``width``-pixel-wide browser window shows its first ``height`` pixels
    (``env``: e.g. FONTCONFIG_FILE to render with other fonts); None when it worked, else why not."""
    return _print(page, target, "screenshot", ["--hide-scrollbars", f"--window-size={width},{height}",
                                               "--screenshot={out}"], b"\x89PNG", timeout, env)
