"""Check stage outputs against the contract and normalise their storage types."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.contract.stages import ArtifactSpec, StageSpec
from harness.errors import ContractError

_FAMILY_KINDS = {
    "float": "f",
    "int": "iu",
    "uint8": "u",
    "str": "U",
    "bool": "b",
}


def dtype_family_matches(dtype: np.dtype, families: tuple[str, ...]) -> bool:
    """Return whether ``dtype`` belongs to one of the dtype ``families``."""
    for family in families:
        if family == "uint8" and dtype == np.uint8:
            return True
        if family != "uint8" and dtype.kind in _FAMILY_KINDS[family]:
            return True
    return False


def normalise_array(value: Any) -> np.ndarray:
    """Convert ``value`` to a numpy array, with strings as fixed-width unicode.

    Object arrays are accepted only when every element is a ``str``; anything
    else raises, because object arrays cannot be stored without pickling.
    """
    array = np.asarray(value)
    if array.dtype.kind == "O":
        flat = array.ravel()
        if not all(isinstance(item, str) for item in flat):
            kinds = sorted({type(item).__name__ for item in flat})
            msg = f"object array with element types {kinds} cannot be stored; convert to str or numbers"
            raise ContractError(msg)
        array = array.astype(str)
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8")
    return array


def bind_shape(
    spec: ArtifactSpec,
    shape: tuple[int, ...],
    dims: MutableMapping[str, int],
    *,
    where: str,
) -> None:
    """Check ``shape`` against ``spec.shape``, binding free symbols in ``dims``.

    Raises
    ------
    ContractError
        When the rank differs, a fixed size differs, or a symbol bound earlier
        in the run (``N``, ``G``, ``E``) has another size here.
    """
    if spec.shape is None:
        return
    if len(shape) != len(spec.shape):
        msg = f"{where}: expected {len(spec.shape)} dimensions {spec.shape}, got shape {shape}"
        raise ContractError(msg)
    for axis, (symbol, size) in enumerate(zip(spec.shape, shape, strict=True)):
        if isinstance(symbol, int):
            if size != symbol:
                msg = f"{where}: axis {axis} must have size {symbol}, got {size} (shape {shape})"
                raise ContractError(msg)
            continue
        bound = dims.get(symbol)
        if bound is None:
            dims[symbol] = size
        elif bound != size:
            msg = (
                f"{where}: axis {axis} ({symbol}) has size {size}, but {symbol} = {bound} "
                f"earlier in this run (shape {shape})"
            )
            raise ContractError(msg)


def validate_outputs(
    stage: StageSpec,
    outputs: Mapping[str, Any],
    dims: MutableMapping[str, int],
    *,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """Validate one stage's outputs and return them in storage form.

    Parameters
    ----------
    stage
        The stage that produced ``outputs``.
    outputs
        Artifact name to value: array-like, scipy sparse matrix or JSON-able mapping.
    dims
        Run-wide symbol sizes (``N``, ``G``, ``E``); updated in place.
    allow_missing
        Accept outputs that lack required artifacts (artifact folders written
        by another pipeline may hold only some); present ones are still checked.

    Returns
    -------
    dict
        The same artifacts with arrays normalised by :func:`normalise_array`,
        sparse matrices as CSR, and extra artifacts (not in the contract) kept.
    """
    missing = [
        spec.name for spec in stage.writes if not spec.optional and spec.name not in outputs
    ]
    if missing and not allow_missing:
        msg = (
            f"stage {stage.name!r} did not return required artifacts {missing}; "
            f"it returned {sorted(outputs)}"
        )
        raise ContractError(msg)

    local_dims = dict(dims)
    checked: dict[str, Any] = {}
    declared = {spec.name: spec for spec in stage.writes}
    for name, value in outputs.items():
        where = f"{stage.name}/{name}"
        spec = declared.get(name)
        checked[name] = _validate_one(spec, value, local_dims, where=where)
    dims.update(local_dims)
    return checked


def _validate_one(
    spec: ArtifactSpec | None,
    value: Any,
    dims: MutableMapping[str, int],
    *,
    where: str,
) -> Any:
    kind = spec.kind if spec is not None else infer_kind(value)
    if kind == "json":
        if not isinstance(value, Mapping):
            msg = f"{where}: expected a JSON object (mapping), got {type(value).__name__}"
            raise ContractError(msg)
        return dict(value)
    if kind == "sparse":
        if not sp.issparse(value):
            msg = f"{where}: expected a scipy sparse matrix, got {type(value).__name__}"
            raise ContractError(msg)
        matrix = sp.csr_matrix(value)
        if spec is not None:
            bind_shape(spec, matrix.shape, dims, where=where)
            _check_dtype(spec, matrix.dtype, where=where)
        return matrix
    array = normalise_array(value)
    if spec is not None:
        bind_shape(spec, array.shape, dims, where=where)
        _check_dtype(spec, array.dtype, where=where)
    return array


def _check_dtype(spec: ArtifactSpec, dtype: np.dtype, *, where: str) -> None:
    if spec.dtypes and not dtype_family_matches(dtype, spec.dtypes):
        msg = f"{where}: dtype {dtype} is not one of the accepted families {list(spec.dtypes)}"
        raise ContractError(msg)


def infer_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "json"
    if sp.issparse(value):
        return "sparse"
    return "array"
