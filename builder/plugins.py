"""Plug-in layer types: a module that calls `builder.register_layer(...)`,
named on the command line (`--plugin MODULE`) or installed by a package that
declares it in the entry-point group `keras_spec_builder.layers`:

    [project.entry-points."keras_spec_builder.layers"]
    my_layers = "my_package.layers"        # a module, or a function to call

Specs stay data: a plug-in is Python the user chose to install or name, never
code a spec carries."""

from __future__ import annotations

import importlib
import importlib.metadata

from .errors import BuilderError, FlagError, first_line

GROUP = "keras_spec_builder.layers"
_installed_loaded = False


def _keras_first():
    """Keras, imported the builder's way (TensorFlow's start-up log kept off
    the terminal) before a plug-in imports it its own way."""
    from .backend import keras

    keras()


def load(module: str) -> None:
    """Import the plug-in module `module` (its import registers its layer types)."""
    try:
        _keras_first()
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and module.startswith(err.name):
            raise FlagError(
                f"--plugin {module}: no module named '{err.name}' (a plug-in is an importable "
                "module: on PYTHONPATH, or installed)"
            ) from None
        raise FlagError(f"--plugin {module}: importing it failed: {first_line(err, 200, named=True)}") from None
    except BuilderError as err:
        raise FlagError(f"--plugin {module}: {err}") from None
    except Exception as err:  # noqa: BLE001 - the plug-in's own failure, named as such
        raise FlagError(f"--plugin {module}: importing it failed: {first_line(err, 200, named=True)}") from None


def load_installed() -> list[str]:
    """Load the plug-ins installed packages declare (once per process); their names."""
    global _installed_loaded
    if _installed_loaded:
        return []
    _installed_loaded = True
    names = []
    for entry in importlib.metadata.entry_points(group=GROUP):
        try:
            _keras_first()
            loaded = entry.load()
            if callable(loaded):
                loaded()
        except Exception as err:  # noqa: BLE001 - an installed package's failure, named as such
            raise BuilderError(
                f"the installed plug-in '{entry.name}' ({entry.value}) failed to load: "
                f"{first_line(err, 200, named=True)}"
            ) from None
        names.append(entry.name)
    return names
