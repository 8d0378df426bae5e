"""docs/layers.md, rendered from the registry (written by `python
tools/regenerate.py`; a test fails while the file is stale)."""

from __future__ import annotations

import json
import os

from ..catalogue import registry
from ..spec.arguments import expected
from ..spec.language import ENTRY_KEYS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.join(ROOT, "docs", "layers.md")


def render() -> str:
    lines = [
        "# Layer types",
        "",
        "Generated from the layer registry by `python tools/regenerate.py`; do not edit.",
        "`python cli.py layers TYPE` prints the same for one type. Every type also takes",
        "`name`, `dtype` and `trainable`, and the entry keys "
        + ", ".join(f"`{key}`" for key in ENTRY_KEYS if key != "name"),
        "([spec.md](spec.md)).",
        "",
        "| type | Keras class | short form sets | what it does |",
        "| --- | --- | --- | --- |",
    ]
    for name, layer_type in sorted(registry.LAYERS.items()):
        short = f"`{layer_type.short}`" if layer_type.short else ""
        lines.append(f"| [`{name}`](#{name}) | `{layer_type.qualname}` | {short} | {layer_type.doc} |")
    lines += [
        "",
        "Activations usable by name (as `activation:`, in `defaults`, or as an entry):",
        ", ".join(f"`{a}`" for a in registry.activation_names()) + ".",
        "",
    ]
    for name, layer_type in sorted(registry.LAYERS.items()):
        lines += [
            f"## {name}",
            "",
            f"`{layer_type.qualname}`: {layer_type.doc}",
            "",
            "| argument | type | default |",
            "| --- | --- | --- |",
        ]
        for arg, info in layer_type.args.items():
            if arg in registry.BASE_ARGS:
                continue
            default = "**required**" if info.get("required") else f"`{json.dumps(info.get('default'))}`"
            lines.append(f"| `{arg}` | {expected(layer_type, arg)} | {default} |")
        lines.append("")
        if layer_type.requires:
            lines += [f"Needs `{layer_type.requires[1]}` (`pip install {layer_type.requires[1]}`).", ""]
        if layer_type.example:
            example = layer_type.example
            shape = json.dumps(example.get("input", example.get("inputs")))
            lines += [f"Example (on input `{shape}`): `- {name}: {json.dumps(example.get('args', {}))}`", ""]
    lines += [
        "## Not available",
        "",
        "The `keras.layers` classes a spec does not name (`python cli.py layers --excluded`):",
        "",
        "| class | why |",
        "| --- | --- |",
    ]
    lines += [f"| `{cls}` | {why} |" for cls, why in sorted(registry.EXCLUDED.items())]
    return "\n".join(lines) + "\n"
