"""Save and load fitted policies: a zip of a JSON manifest and the fitted arrays.

Two layouts, named in the manifest's ``state_file``:

``state.npz``
    Numpy arrays of the fitted state (heuristics, DP, ...), read with
    ``allow_pickle=False``.
``state.pt``
    Torch policies (those with ``_torch_state``/``_load_torch_state`` hooks,
    the RL agents): ``torch.save`` of ``{"network": state_dict, "arrays":
    {name: tensor}}``, read with ``torch.load(..., weights_only=True)``.
    Torch is imported only to write or read this layout.

Nothing is unpickled: the class to rebuild is looked up by registered policy
id, never imported from a path named in the file.
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from optalloc.checks import check_instance, check_output_path
from optalloc.exceptions import CheckpointError, DependencyNotInstalled, OptallocError
from optalloc.policy import Policy

FORMAT = "optalloc-policy"
FORMAT_VERSION = 1
#: Member holding the fitted arrays, by layout.
NPZ_STATE, TORCH_STATE = "state.npz", "state.pt"


def _is_torch_policy(policy: Policy) -> bool:
    """Whether the policy keeps a torch network (saved as ``state.pt``)."""
    return callable(getattr(policy, "_torch_state", None)) and callable(getattr(policy, "_load_torch_state", None))


def _torch_payload(policy: Policy, arrays: dict[str, np.ndarray]) -> bytes:
    """``state.pt``: the network ``state_dict`` and the other fitted arrays as tensors."""
    import torch

    tensors = {}
    for key, value in arrays.items():
        try:
            tensors[key] = torch.from_numpy(np.array(value, order="C"))  # a writable copy
        except TypeError:
            raise OptallocError(
                f"Cannot save attribute {key!r} of {policy.name}: arrays of dtype {value.dtype}."
            ) from None
    buffer = io.BytesIO()
    torch.save({"network": dict(policy._torch_state()), "arrays": tensors}, buffer)
    return buffer.getvalue()


def _read_torch_payload(path: Path, data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse ``state.pt`` with ``weights_only=True``: (network state_dict, arrays)."""
    try:
        import torch
    except ImportError:
        raise DependencyNotInstalled(
            f"Saved policy {str(path)!r} holds a torch network; install torch (pip install 'optalloc[rl]') to load it."
        ) from None
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad bytes (UnpicklingError, EOFError...)
        raise CheckpointError(
            f"Saved policy {str(path)!r} has a corrupt {TORCH_STATE} (expected a torch state_dict readable "
            f"with weights_only=True): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    ok = (isinstance(payload, dict) and set(payload) == {"network", "arrays"}
          and all(isinstance(v, dict) and all(isinstance(t, torch.Tensor) for t in v.values())
                  for v in payload.values()))
    if not ok:
        raise CheckpointError(
            f"Saved policy {str(path)!r} has a {TORCH_STATE} of a foreign layout; expected "
            f"{{'network': state_dict, 'arrays': {{name: tensor}}}}."
        )
    return payload["network"], {k: v.numpy() for k, v in payload["arrays"].items()}


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
    """Write a fitted policy to ``path`` (a zip: ``manifest.json`` + ``state.npz`` or ``state.pt``).

    Fitted attributes (names ending in ``_``) that are arrays go to
    ``state.npz`` (``state.pt`` with the network's ``state_dict`` for torch
    policies); JSON values go to the manifest. Policies whose fitted state
    is a solver model are re-fitted from the recorded scenario and seed on load
    (``refit_on_load``).
    """
    check_instance("policy", policy, Policy, "a fitted Policy")
    check_instance("path", path, (str, Path), "a file path (str or pathlib.Path)")
    policy._check_fitted()
    check_output_path(path, "policy file")
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
    torch_layout = _is_torch_policy(policy) and not manifest["refit_on_load"]
    manifest["state_file"] = TORCH_STATE if torch_layout else NPZ_STATE
    if torch_layout:
        state = _torch_payload(policy, arrays)
    else:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        state = buffer.getvalue()
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.writestr(manifest["state_file"], state)
    return path


def load_policy(path: str | Path) -> Policy:
    """Read a policy written by :func:`save_policy`.

    Raises
    ------
    CheckpointError
        The file is missing, not a zip, lacks the manifest, is of another
        format, names an unregistered policy, or its arrays / network are
        corrupt or do not fit the policy.
    DependencyNotInstalled
        The file holds a torch network and torch is not installed.
    """
    from optalloc.registry import make_policy, make_scenario

    check_instance("path", path, (str, Path), "a file path (str or pathlib.Path)")
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"Saved policy {str(path)!r} is a folder; expected a policy file (.zip).")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            state_file = manifest.get("state_file", NPZ_STATE) if isinstance(manifest, dict) else NPZ_STATE
            if state_file not in (NPZ_STATE, TORCH_STATE):
                raise CheckpointError(
                    f"Saved policy {str(path)!r} names an unknown state file {state_file!r}; "
                    f"expected {NPZ_STATE!r} or {TORCH_STATE!r}."
                )
            state_bytes = zf.read(state_file)
    except FileNotFoundError:
        raise CheckpointError(f"Saved policy {str(path)!r} does not exist.") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise CheckpointError(
            f"Saved policy {str(path)!r} is unreadable: expected an optalloc policy zip "
            f"(manifest.json + state.npz or state.pt); {exc}."
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
    except ImportError as exc:
        raise DependencyNotInstalled(
            f"Saved policy {str(path)!r} is a {manifest['policy_id']!r} policy, which needs a package that is not "
            f"installed: {exc}."
        ) from None
    if manifest.get("refit_on_load"):
        return policy.fit(scenario, seed=manifest.get("fit_seed"))
    if (state_file == TORCH_STATE) != _is_torch_policy(policy):
        raise CheckpointError(
            f"Saved policy {str(path)!r} stores {state_file!r}, but policy {manifest['policy_id']!r} "
            f"{'keeps' if _is_torch_policy(policy) else 'does not keep'} a torch network."
        )
    network = None
    if state_file == TORCH_STATE:
        network, arrays = _read_torch_payload(path, state_bytes)
    else:
        try:
            with np.load(io.BytesIO(state_bytes), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"Saved policy {str(path)!r} has corrupt arrays: {exc}") from None
    try:
        policy._load_state({**manifest["state"], **arrays})
        if network is not None:
            policy._load_torch_state(network)
        policy._scenario = scenario
        policy._check_loaded()
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(
            f"Saved policy {str(path)!r} does not match policy {manifest['policy_id']!r} with the saved "
            f"hyperparameters (a foreign or edited checkpoint?): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    return policy
