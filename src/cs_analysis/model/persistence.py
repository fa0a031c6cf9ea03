"""Saving and loading models with skops (never pickle), beside a metadata JSON.

``save_model`` writes a :class:`~cs_analysis.model.artefact.ChurnModel` as ``PATH`` (skops: its
fitted parts) and ``PATH.json`` (its :class:`~cs_analysis.model.artefact.ModelMeta`: features,
training window, horizon, metrics, data fingerprint, package versions and the model file's
SHA-256). ``load_model`` refuses, with a clear message, a missing or tampered file, another format
or scikit-learn version, any type in the file that is not on the project's allow-list, and
metadata that was edited (wrong types, a feature list the model was not fitted on). skops (and with it
scikit-learn) is imported only when a model file is written or read, not for its metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from cs_analysis.data.io import atomic_path
from cs_analysis.errors import ModelError
from cs_analysis.model.artefact import FORMAT, ChurnModel, ModelMeta

# types a cs-analysis model file may contain beyond skops' defaults (checked before loading)
ALLOWED_TYPES = {
    "cs_analysis.model.calibration.SigmoidCalibrated",
    "cs_analysis.model.impute.MedianImputer",  # SimpleImputer with numpy's faster median (files before it: SimpleImputer)
    "sklearn.calibration._CalibratedClassifier",  # format-1 files (CalibratedClassifierCV)
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


def save_model(model: ChurnModel, path: str | Path) -> Path:
    """Write the model (skops) and its metadata JSON, each atomically; returns the JSON's path."""
    import skops.io as sio

    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(model.parts(), tmp)
        digest = _sha256(tmp)
    meta = dataclasses.replace(model.meta, versions=package_versions(), model_sha256=digest, format=FORMAT)
    target = metadata_path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(meta.to_dict(), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return target


def load_metadata(path: str | Path) -> ModelMeta:
    """The metadata of the model file ``path`` (format and every field checked), without loading
    the model."""
    path = Path(path)
    return ModelMeta.from_dict(_read_metadata(path), str(metadata_path(path)))


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


def load_model(path: str | Path) -> ChurnModel:
    """The model, after every check (see module docs): checksum, scikit-learn version, allowed
    types — all before anything in the file is loaded — then the metadata's fields and that its
    feature list is the one the model was fitted on."""
    import skops.io as sio

    path = Path(path)
    raw = _read_metadata(path)
    if _sha256(path) != raw.get("model_sha256"):
        raise ModelError(f"{path}: the file does not match its metadata checksum: tampered or corrupted")
    trained = str(raw.get("versions", {}).get("scikit-learn", ""))
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
    meta = ModelMeta.from_dict(raw, str(metadata_path(path)))
    try:
        parts = sio.load(path, trusted=list(untrusted))
    except Exception as exc:  # a damaged archive or object tree
        raise ModelError(f"{path}: not a readable skops file ({exc})") from None
    if not isinstance(parts, dict) or {"model", "explainer", "explainer_means"} - set(parts):
        raise ModelError(f"{path}: not a cs-analysis model (the file lacks its model, explainer or means)")
    model = ChurnModel(parts["model"], parts["explainer"], np.asarray(parts["explainer_means"]), meta)
    model.check_parts(str(metadata_path(path)))
    return model
