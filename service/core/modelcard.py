"""The contract between training and serving: a model directory and its card."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CARD_FILE = "model_card.json"
CURRENT_FILE = "CURRENT"
CARD_FORMAT = "triage-model-card/1"
# Bump when normalize() changes in a way that makes older artefacts see different text.
FEATURE_VERSION = "normalize-v1"
SUPPORTED_KINDS = ("sklearn-tfidf-logreg", "onnx-encoder", "sklearn-priority")
# A family or version name: one path segment of letters, digits and . _ -, never starting with a dot, so that
# a pointer file or an argument cannot name ../elsewhere, an absolute path or a hidden directory.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ModelCardError(ValueError):
    """A model directory that this service cannot or must not load."""


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    kind: str
    labels: list[str]
    artefact: str
    artefact_sha256: str
    data_sha256: str
    created_at: str
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # Other files the artefact needs (tokenizer, ensemble members): name -> SHA-256.
    files: dict[str, str] = field(default_factory=dict)
    # How to serve it: temperature, per-class thresholds, max_length, input names, ensemble weights.
    serving: dict[str, Any] = field(default_factory=dict)
    feature_version: str = FEATURE_VERSION
    format: str = CARD_FORMAT
    # Who trained it: TRIAGE_TRAINED_BY, else user@host of the training process (filled in by write()).
    trained_by: str = ""
    # ISO 639-1 codes of the languages of its training texts (each above a small share); a ticket in another
    # language is never auto-routed. None on cards written before the field: no language is held back.
    languages: list[str] | None = None

    def write(self, directory: Path) -> None:
        card = asdict(self)
        card["trained_by"] = card["trained_by"] or trainer()
        (directory / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        """Read and validate a card; raise ModelCardError saying what is wrong and what to do."""
        path = directory / CARD_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ModelCardError(f"{path} is missing: train a model with `triage train`") from exc
        except json.JSONDecodeError as exc:
            raise ModelCardError(f"{path} is not valid JSON ({exc})") from exc
        if raw.get("format") != CARD_FORMAT:
            raise ModelCardError(f"{path}: format {raw.get('format')!r} is not {CARD_FORMAT!r}; retrain")
        if raw.get("kind") not in SUPPORTED_KINDS:
            raise ModelCardError(f"{path}: kind {raw.get('kind')!r} is not one of {SUPPORTED_KINDS}")
        if raw.get("feature_version") != FEATURE_VERSION:
            raise ModelCardError(
                f"{path}: feature version {raw.get('feature_version')!r} differs from this service's "
                f"{FEATURE_VERSION!r}; retrain the model with this version of Triage"
            )
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        try:
            card = cls(**known)
        except TypeError as exc:
            raise ModelCardError(f"{path}: {exc}") from exc
        if not card.labels or len(set(card.labels)) != len(card.labels):
            raise ModelCardError(f"{path}: labels must be a non-empty list without repeats")
        for name, digest in {card.artefact: card.artefact_sha256, **card.files}.items():
            file = directory / name
            if not file.is_file():
                raise ModelCardError(f"{path}: {name} is missing")
            if file_sha256(file) != digest:
                raise ModelCardError(f"{file}: SHA-256 does not match the card; the file was altered")
        if card.languages is not None and (
            not isinstance(card.languages, list) or not all(isinstance(c, str) for c in card.languages)
        ):
            raise ModelCardError(f"{path}: languages must be a list of ISO 639-1 codes")
        thresholds = card.serving.get("thresholds", {})
        if set(thresholds) - set(card.labels):
            raise ModelCardError(f"{path}: thresholds name labels the model does not have")
        return card


def card_metrics(directory: Path) -> dict[str, Any]:
    """The card's metrics without checking artefact hashes: cheap enough for every metrics scrape."""
    try:
        metrics = json.loads((directory / CARD_FILE).read_text()).get("metrics", {})
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ModelCardError(f"{directory / CARD_FILE}: {exc}") from exc
    return metrics if isinstance(metrics, dict) else {}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_version(family: Path, created: datetime, data_sha256: str) -> str:
    """A sortable version name, unique in the family even for two trainings in the same second."""
    base = created.strftime("%Y%m%dT%H%M%S") + "-" + data_sha256[:8]
    version, n = base, 1
    while (family / version).exists() or (family / (version + ".tmp")).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def trainer() -> str:
    """Who is training: TRIAGE_TRAINED_BY (set by automation), else user@host."""
    return os.environ.get("TRIAGE_TRAINED_BY") or f"{audit_user()}@{socket.gethostname()}"


def version_dir(models_dir: Path, name: str, version: str, *, where: str = "version") -> Path:
    """The directory of `version` of family `name`, refused unless it is a plain name resolving inside the family.

    Pointer files and arguments name versions; a name such as ../other, an absolute path, or a symlink that leads
    out of the family would otherwise make the service unpickle whatever lies there.
    """
    for kind, value in (("family", name), (where, version)):
        if not NAME.fullmatch(value) or value in (".", ".."):
            raise ModelCardError(
                f"{kind} name {value[:80]!r} is not allowed: letters, digits and . _ - only, not starting with a dot"
            )
    family = (models_dir / name).resolve()
    directory = (family / version).resolve()
    if directory.parent != family:
        raise ModelCardError(f"{where} {version!r} of {name!r} resolves to {directory}, outside {family}")
    return directory


def current_version_dir(models_dir: Path, name: str) -> Path:
    """Return the directory of the promoted version of model `name`."""
    family = models_dir / name
    pointer = family / CURRENT_FILE
    if not pointer.is_file():
        raise ModelCardError(f"no promoted {name!r} model in {models_dir}: run `triage train` (or `triage demo`) first")
    version = pointer.read_text().strip()
    directory = version_dir(models_dir, name, version, where=f"{pointer} names version")
    if not directory.is_dir():
        raise ModelCardError(f"{pointer} names version {version!r}, but {directory} does not exist")
    return directory


HISTORY_FILE = "HISTORY"
AUDIT_FILE = "AUDIT.jsonl"


def audit_user() -> str:
    """Who is acting: TRIAGE_AUDIT_USER (set by automation), else the login name, else "unknown"."""
    for var in ("TRIAGE_AUDIT_USER", "USER", "LOGNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def audit(models_dir: Path, action: str, *, name: str, reason: str | None = None, **details: Any) -> dict[str, Any]:
    """Append one decision (who, when, what, why) to the models directory's audit log and return it."""
    entry: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(),
        "who": audit_user(),
        "action": action,
        "name": name,
        "reason": reason,
        **details,
    }
    models_dir.mkdir(parents=True, exist_ok=True)
    # One write() of one line in append mode: concurrent writers never interleave within a line.
    with (models_dir / AUDIT_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
    return entry


def audit_log(models_dir: Path) -> list[dict[str, Any]]:
    """Every audit entry, oldest first; a torn last line (a crash mid-write) is left out."""
    path = models_dir / AUDIT_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _point_current(models_dir: Path, name: str, version: str) -> str | None:
    """Validate `version`, point CURRENT at it atomically, remember it in HISTORY; return the previous one."""
    family = models_dir / name
    ModelCard.read(version_dir(models_dir, name, version))  # never promote what the service would refuse to load
    pointer = family / CURRENT_FILE
    previous = pointer.read_text().strip() if pointer.is_file() else None
    tmp = family / (CURRENT_FILE + ".tmp")
    tmp.write_text(version + "\n")
    tmp.replace(pointer)
    with (family / HISTORY_FILE).open("a") as fh:
        fh.write(version + "\n")
    return previous


def promote(models_dir: Path, name: str, version: str, *, reason: str | None = None) -> None:
    """Point CURRENT at `version` atomically so running workers switch cleanly; remember the order."""
    previous = _point_current(models_dir, name, version)
    shadow = shadow_version_dir(models_dir, name)
    if shadow is not None and shadow.name == version:
        (models_dir / name / SHADOW_FILE).unlink(missing_ok=True)  # the shadow is now the champion
    audit(models_dir, "promote", name=name, version=version, previous=previous, reason=reason)


def promote_trained(models_dir: Path, name: str, version: str, make_current: bool | None) -> None:
    """After training: promote when asked (True), never (False), or when no version is in service (None)."""
    reason = "trained with --promote"
    if make_current is None:
        try:
            current_version_dir(models_dir, name)
            make_current = False
        except ValueError:
            make_current, reason = True, "trained; no version was in service"
    if make_current:
        promote(models_dir, name, version, reason=reason)


SHADOW_FILE = "SHADOW"


def shadow_version_dir(models_dir: Path, name: str) -> Path | None:
    """The directory of the version running in shadow beside the one in service, or None."""
    pointer = models_dir / name / SHADOW_FILE
    if not pointer.is_file():
        return None
    version = pointer.read_text().strip()
    return version_dir(models_dir, name, version, where=f"{pointer} names version") if version else None


def set_shadow(models_dir: Path, name: str, version: str | None, *, reason: str | None = None) -> None:
    """Run `version` in shadow (predict on live tickets, never act), or stop shadowing with None."""
    family = models_dir / name
    pointer = family / SHADOW_FILE
    if version is None:
        pointer.unlink(missing_ok=True)
        audit(models_dir, "shadow-off", name=name, version=None, reason=reason)
        return
    ModelCard.read(version_dir(models_dir, name, version))  # a shadow that cannot load would only log errors
    tmp = family / (SHADOW_FILE + ".tmp")
    tmp.write_text(version + "\n")
    tmp.replace(pointer)
    audit(models_dir, "shadow", name=name, version=version, reason=reason)


def rollback(models_dir: Path, name: str, *, reason: str | None = None) -> str:
    """Promote the version that was current before this one; return it."""
    family = models_dir / name
    history = [v for v in (family / HISTORY_FILE).read_text().split() if v] if (family / HISTORY_FILE).is_file() else []
    current = current_version_dir(models_dir, name).name
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise ModelCardError(f"no earlier promoted {name!r} version to roll back to")
    previous = history[-1]
    (family / HISTORY_FILE).write_text("".join(v + "\n" for v in history[:-1]))
    _point_current(models_dir, name, previous)
    audit(models_dir, "rollback", name=name, version=previous, previous=current, reason=reason)
    return previous


def versions(models_dir: Path, name: str) -> list[ModelCard | ModelCardError]:
    """Every version directory of a family, newest first, with its card or why it cannot be served."""
    family = models_dir / name
    out: list[ModelCard | ModelCardError] = []
    for directory in (
        sorted((d for d in family.iterdir() if d.is_dir() and not d.name.endswith(".tmp")), reverse=True)
        if family.is_dir()
        else []
    ):
        try:
            out.append(ModelCard.read(directory))
        except ModelCardError as exc:
            out.append(exc)
    return out
