"""A spec as it was resolved, in one self-contained file: what `extends`, the
overrides and the imports made of it, with imported blocks written in and
paths made absolute, so the file builds the same network from anywhere (a
run folder's `spec.yaml`). No Keras here."""

from __future__ import annotations

import copy

import yaml

from .language import TOP_LEVEL_ORDER, Spec


def resolved_document(spec: Spec) -> dict:
    """The spec's document after extends and overrides, its blocks all written in."""
    document = copy.deepcopy(spec.source.data)
    document.pop("imports", None)
    document.pop("scales", None)  # the chosen scale is applied already (and --set after it)
    document.pop("scale", None)
    if spec.blocks:
        document["blocks"] = {name: _block(block) for name, block in spec.blocks.items()}
    if spec.weights:
        document["weights"] = {"path": spec.weights["path"], "skip_mismatch": spec.weights["skip_mismatch"]}
    document.setdefault("name", spec.name)
    return {
        **{key: document[key] for key in TOP_LEVEL_ORDER if key in document},
        **{key: value for key, value in document.items() if key not in TOP_LEVEL_ORDER},
    }


def _block(block) -> dict:
    data: dict = {"params": dict(block.params)} if block.params else {}
    if block.inputs != ["input"]:
        data["inputs"] = list(block.inputs)
    data["layers"] = copy.deepcopy(block.layers)
    if block.output:
        data["output"] = block.output
    return data


def resolved_yaml(spec: Spec, header: str = "") -> str:
    text = yaml.safe_dump(
        resolved_document(spec), sort_keys=False, default_flow_style=None, width=110, allow_unicode=True
    )
    return (header.rstrip() + "\n" if header else "") + text
