"""The `search:` section: a hyperparameter search space written against spec
paths, as `--set` writes them (no Keras here; training.search runs it):

    search:
      defaults.activation: [relu, leaky_relu, swish]              # choices
      layers.f6.units: {int: [32, 256], step: 32}                  # integers
      training.optimizer.adam.learning_rate: {float: [1.0e-4, 1.0e-2], sampling: log}
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, WithJsonSchema, model_validator

from ..errors import SpecError, describe
from .validation import SpecModel, spec_check, validate

Number = Union[StrictInt, StrictFloat]


class _Range(SpecModel):
    """A range's bounds are ordered, and positive for log sampling."""

    BOUNDS: ClassVar[str] = ""

    @model_validator(mode="after")
    @spec_check
    def _ordered(self):
        _check_range(getattr(self, self.BOUNDS), self.BOUNDS, self.sampling)
        return self


class IntRange(_Range):
    EXPECTED: ClassVar[str] = "{int: [low, high], step: N}"
    int: Annotated[list[StrictInt], Field(min_length=2, max_length=2)] = Field(description="[low, high], both included")
    step: Annotated[StrictInt, Field(gt=0)] = Field(1, description="a positive step")
    sampling: Literal["linear", "log"] = Field("linear", description="linear or log")
    BOUNDS: ClassVar[str] = "int"


class FloatRange(_Range):
    EXPECTED: ClassVar[str] = "{float: [low, high], sampling: log}"
    float: Annotated[list[Number], Field(min_length=2, max_length=2)] = Field(description="[low, high]")
    step: Annotated[Number, Field(gt=0)] | None = Field(None, description="a positive step, or none")
    sampling: Literal["linear", "log"] = Field("linear", description="linear or log")
    BOUNDS: ClassVar[str] = "float"


def _check_range(bounds, key, sampling):
    low, high = bounds
    if low >= high:
        raise SpecError(f"expected [low, high] with low < high, got [{low}, {high}]", path=(key,))
    if sampling == "log" and low <= 0:
        raise SpecError(f"log sampling needs a positive low end, got {low}", path=(key,))


def _one_entry(value):
    """A list of choices, or a range told by its key: each form checked as
    itself, so a mistake is reported against the form that was meant."""
    if isinstance(value, list):
        if not value:
            raise SpecError("expected at least one choice")
        return value
    if isinstance(value, dict) and ("int" in value or "float" in value):
        return validate(IntRange if "int" in value else FloatRange, value).model_dump(exclude_none=True)
    raise SpecError(f"expected a list of choices, {IntRange.EXPECTED} or {FloatRange.EXPECTED}, got {describe(value)}")


def check_space(space: dict) -> dict:
    """Each entry of a `search:` section checked (errors placed at its path)."""
    checked = {}
    for path, value in space.items():
        try:
            checked[path] = _one_entry(value)
        except SpecError as err:
            raise SpecError(err.message, path=(path, *err.path)) from None
    return checked


SearchEntry = Annotated[
    Any,
    WithJsonSchema(
        {"anyOf": [{"type": "array", "minItems": 1}, IntRange.model_json_schema(), FloatRange.model_json_schema()]}
    ),
]
SearchSpace = Annotated[dict[str, SearchEntry], AfterValidator(spec_check(check_space))]


def space_kind(value) -> str:
    """'choice', 'int' or 'float' for a checked search entry."""
    if isinstance(value, list):
        return "choice"
    return "int" if "int" in value else "float"


def candidates(value) -> list:
    """The values to check a path with before any trial: each choice, or both ends of a range."""
    if isinstance(value, list):
        return value
    return list(value["int"] if "int" in value else value["float"])
