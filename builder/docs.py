"""Writes docs/layers.md from the registry: `python -m builder.docs`
(`--check` exits 1 when the file is stale; a test runs it)."""

from __future__ import annotations

import json
import os
import sys

from . import argtypes, registry
from .files import write_atomic

TARGET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "layers.md")


def render() -> str:
    lines = ["# Layer types", "",
             "Generated from the layer registry by `python -m builder.docs`; do not edit.",
             "`python cli.py layers TYPE` prints the same for one type. Every type also takes",
             "`name`, `dtype` and `trainable`, and the entry keys `inputs`, `repeat`, `vary` and `when`",
             "([spec.md](spec.md)).", "",
             "| type | Keras class | short form sets | what it does |", "| --- | --- | --- | --- |"]
    for name, layer_type in sorted(registry.LAYERS.items()):
        short = f"`{layer_type.short}`" if layer_type.short else ""
        lines.append(f"| [`{name}`](#{name}) | `{layer_type.qualname}` | {short} | {layer_type.doc} |")
    lines += ["", "Activations usable by name (as `activation:`, in `defaults`, or as an entry):",
              ", ".join(f"`{a}`" for a in registry.activation_names()) + ".", ""]
    for name, layer_type in sorted(registry.LAYERS.items()):
        lines += [f"## {name}", "", f"`{layer_type.qualname}`: {layer_type.doc}", "",
                  "| argument | type | default |", "| --- | --- | --- |"]
        for arg, info in layer_type.args.items():
            if arg in registry.BASE_ARGS:
                continue
            default = "**required**" if info.get("required") else f"`{json.dumps(info.get('default'))}`"
            text = argtypes.TYPES[argtypes.type_of(layer_type, arg)][1]
            lines.append(f"| `{arg}` | {text} | {default} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        with open(TARGET, encoding="utf-8") as handle:
            if handle.read() != text:
                print(f"{TARGET} is stale: run python -m builder.docs")
                return 1
        return 0
    write_atomic(TARGET, text.encode())
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
