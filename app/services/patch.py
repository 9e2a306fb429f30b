"""JSON Merge Patch (RFC 7396) of a record's payload.

Hand-written: the algorithm is the RFC's ten lines (section 2), and the one package on PyPI
that offers it (json-merge-patch) follows the obsoleted RFC 7386 and is little used; the RFC's
own examples (appendix A) are its tests (tests/unit/test_merge_patch.py).
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with `patch` applied: an object's members are merged (null removes one), any
    other patch replaces the target whole. Neither argument is changed."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged
