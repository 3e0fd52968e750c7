"""Save and load fitted policies: a zip of a JSON manifest and ``.npz`` arrays.

Nothing is unpickled: arrays are read with ``allow_pickle=False``, and the
class to rebuild is looked up by registered policy id, never imported from a
path named in the file.
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from optalloc.exceptions import CheckpointError, OptallocError
from optalloc.policy import Policy

FORMAT = "optalloc-policy"
FORMAT_VERSION = 1


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("optalloc", "numpy", "scipy", "pyomo", "highspy", "gymnasium", "torch"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def save_policy(policy: Policy, path: str | Path) -> Path:
    """Write a fitted policy to ``path`` (a zip: ``manifest.json`` + ``state.npz``).

    Fitted attributes (names ending in ``_``) that are arrays go to
    ``state.npz``; JSON values go to the manifest. Policies whose fitted state
    is a solver model are re-fitted from the recorded scenario and seed on load
    (``refit_on_load``).
    """
    policy._check_fitted()
    if not policy.policy_id:
        raise OptallocError(f"Only registered policies can be saved; {type(policy).__name__} has no policy id.")
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    if not getattr(policy, "refit_on_load", False):
        for key, value in policy._state().items():
            if isinstance(value, np.ndarray):
                arrays[key] = value
            elif isinstance(value, np.generic):
                scalars[key] = value.item()
            elif _jsonable(value):
                scalars[key] = value
            else:
                raise OptallocError(f"Cannot save attribute {key!r} of {policy.name}: {type(value).__name__}.")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "policy_id": policy.policy_id,
        "params": policy.get_params(),
        "scenario": policy.scenario_spec_,
        "fit_seed": policy.fit_seed_,
        "state": scalars,
        "refit_on_load": bool(getattr(policy, "refit_on_load", False)),
        "versions": _versions(),
    }
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.writestr("state.npz", buffer.getvalue())
    return path


def load_policy(path: str | Path) -> Policy:
    """Read a policy written by :func:`save_policy`.

    Raises
    ------
    CheckpointError
        The file is missing, not a zip, lacks the manifest, is of another
        format or names an unregistered policy.
    """
    from optalloc.registry import make_policy, make_scenario

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            state_bytes = zf.read("state.npz")
    except FileNotFoundError:
        raise CheckpointError(f"Saved policy {str(path)!r} does not exist.") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise CheckpointError(
            f"Saved policy {str(path)!r} is unreadable: expected an optalloc policy zip "
            f"(manifest.json + state.npz); {exc}."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"Saved policy {str(path)!r} is not an optalloc policy file (format {FORMAT!r}).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"Saved policy {str(path)!r} has format version {manifest.get('format_version')!r}; "
            f"this optalloc reads version {FORMAT_VERSION}."
        )
    try:
        policy = make_policy(manifest["policy_id"], **manifest["params"])
        scenario = make_scenario(manifest["scenario"]["id"], **manifest["scenario"]["overrides"])
    except (KeyError, TypeError, OptallocError) as exc:
        raise CheckpointError(f"Saved policy {str(path)!r} has an invalid manifest: {exc}") from None
    if manifest.get("refit_on_load"):
        return policy.fit(scenario, seed=manifest.get("fit_seed"))
    try:
        with np.load(io.BytesIO(state_bytes), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"Saved policy {str(path)!r} has corrupt arrays: {exc}") from None
    policy._load_state({**manifest["state"], **arrays})
    policy._scenario = scenario
    return policy
