"""Saving and loading models with skops (never pickle), beside a metadata JSON.

``save_model`` writes ``PATH`` (skops) and ``PATH.json`` (features, training window, horizon,
metrics, data fingerprint, package versions and the model file's SHA-256). ``load_model``
refuses, with a clear message, a missing or tampered file, another format or scikit-learn
version, and any type in the file that is not on the project's allow-list. skops (and with it
scikit-learn) is imported only when a model file is written or read, not for its metadata.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from cs_analysis.data.io import atomic_path
from cs_analysis.errors import ModelError

FORMAT = 1
# types a cs-analysis model file may contain beyond skops' defaults (checked before loading)
ALLOWED_TYPES = {
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
    "functools.partial",  # skops lists the function it wraps separately, so it is checked too
    "numpy.dtype",
}
PACKAGES = ("cs-analysis", "scikit-learn", "skops", "numpy", "pandas", "scipy")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def metadata_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_model(bundle: dict[str, Any], meta: dict[str, Any], path: str | Path) -> Path:
    """Write the model bundle (skops) and its metadata JSON, each atomically; returns the JSON."""
    import skops.io as sio

    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(bundle, tmp)
        digest = _sha256(tmp)
    full = {"format": FORMAT, **meta, "versions": package_versions(), "model_sha256": digest}
    target = metadata_path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(full, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return target


def load_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of the model file ``path`` (format and every field the code reads checked),
    without loading the model."""
    meta = _read_metadata(Path(path))
    _check_metadata(meta, metadata_path(path))
    return meta


def _read_metadata(path: Path) -> dict[str, Any]:
    """The metadata JSON of ``path``: an object of this version's format."""
    meta_file = metadata_path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    if not meta_file.is_file():
        raise ModelError(f"{path}: its metadata {meta_file.name} is missing; a model is used only with it")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_file}: not valid metadata JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{meta_file}: the metadata must be a JSON object, not {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: model format {meta.get('format')!r}; this version reads format {FORMAT}")
    if not isinstance(meta.get("versions", {}), dict):
        raise ModelError(f"{meta_file}: 'versions' must be an object of package versions")
    return meta


def _check_metadata(meta: dict[str, Any], where: Path) -> None:
    """Every field the code reads has its type (an edited metadata file fails here, in words)."""
    problems = []

    def is_text_list(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    kind = meta.get("kind")
    if kind not in ("accounts", "table"):
        problems.append(f"kind must be 'accounts' or 'table', got {kind!r}")
    for key in ("numeric_features", "categorical_features"):
        if not is_text_list(meta.get(key)):
            problems.append(f"{key} must be a list of column names, got {meta.get(key)!r}")
    if not isinstance(meta.get("model"), str):
        problems.append(f"model must be text, got {meta.get('model')!r}")
    if kind == "accounts":
        h = meta.get("horizon_months")
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            problems.append(f"horizon_months must be a whole number >= 1, got {h!r}")
        dims = meta.get("measure_dimensions", {})
        if not isinstance(dims, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in dims.items()):
            problems.append("measure_dimensions must map measure names to dimension names")
        for key in ("backtest_overall", "backtest_folds", "calibration"):
            if key in meta and not (isinstance(meta[key], list) and all(isinstance(r, dict) for r in meta[key])):
                problems.append(f"{key} must be a list of rows (objects)")
    if kind == "table":
        if not isinstance(meta.get("label"), str):
            problems.append(f"label must be text, got {meta.get('label')!r}")
        if meta.get("id") is not None and not isinstance(meta.get("id"), str):
            problems.append(f"id must be text or null, got {meta.get('id')!r}")
    if problems:
        raise ModelError(f"{where}: the model metadata is not usable (edited by hand?): " + "; ".join(problems))


def load_model(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model bundle and its metadata, after the file checks (see module docs): checksum,
    scikit-learn version, allowed types. :func:`open_model` also checks that the two belong
    together, as scoring needs."""
    import skops.io as sio

    path = Path(path)
    meta = _read_metadata(path)
    if _sha256(path) != meta.get("model_sha256"):
        raise ModelError(f"{path}: the file does not match its metadata checksum: tampered or corrupted")
    trained = str(meta.get("versions", {}).get("scikit-learn", ""))
    installed = package_versions()["scikit-learn"]
    if trained.split(".")[:2] != installed.split(".")[:2]:
        raise ModelError(f"{path}: trained with scikit-learn {trained}, installed {installed}: retrain the model")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a damaged archive raises zipfile/json errors
        raise ModelError(f"{path}: not a readable skops file ({exc})") from None
    refused = sorted(set(untrusted) - ALLOWED_TYPES)
    if refused:
        raise ModelError(f"{path}: refuses to load untrusted type(s): {', '.join(refused)}")
    try:
        return sio.load(path, trusted=list(untrusted)), meta
    except Exception as exc:  # a damaged archive or object tree
        raise ModelError(f"{path}: not a readable skops file ({exc})") from None


def open_model(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`load_model`, then the checks scoring relies on: every metadata field the code reads
    has its type, and the metadata's feature list is the one the model was fitted on (an edited
    metadata file is refused in words, not with an error deep inside scikit-learn)."""
    bundle, meta = load_model(path)
    _check_metadata(meta, metadata_path(path))
    expected = [*meta["numeric_features"], *meta["categorical_features"]]
    fitted = getattr(bundle.get("model") if isinstance(bundle, dict) else None, "feature_names_in_", None)
    if not isinstance(bundle, dict) or {"model", "explainer", "explainer_means"} - set(bundle):
        raise ModelError(f"{path}: not a cs-analysis model (the file lacks its model, explainer or means)")
    if fitted is not None and sorted(map(str, fitted)) != sorted(expected):
        raise ModelError(f"{metadata_path(path)}: its feature list does not match the model file (the model "
                         f"was fitted on {len(fitted)} columns, the metadata names {len(expected)}): "
                         "was the metadata edited? Retrain, or restore the metadata written with the model")
    return bundle, meta
