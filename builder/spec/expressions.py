"""Expressions in values: `filters: $in_channels * $expand`, `rate: 0.2 * $index / $count`,
`padding: "'valid' if $strides == 2 else 'same'"`, `when: $strides == 1 and $in_channels == $out`.

A string value holding a `$name` that is more than that name alone is an
expression. It is read by Python's parser into a tree and only these nodes
are evaluated (nothing is ever `eval`ed): numbers, strings, true/false,
`$names`; + - * / // % ** (small exponents); comparisons, and, or, not;
`A if C else B`; and the functions below — the rounding the papers use.
"""

from __future__ import annotations

import ast
import math
import operator
import re

from ..errors import SpecError, article, suggest

NAME = re.compile(r"\$([A-Za-z0-9_]+)")  # block parameters may start with a digit (3x3_filters)
MAX_EXPONENT = 64
MAX_MAGNITUDE = 10**15
MAX_LENGTH = 500
_PREFIX = "_spec_"  # `$x` is parsed as the Python name _spec_x


GIVEN = ("index", "count", "in_channels", "in_shape", "inputs")  # names every entry's expressions have


class Unknown:
    """A name's value that cannot be known before building; using it is an error that says why."""

    def __init__(self, reason: str):
        self.reason = reason


class Input:
    """One input of an entry (or of a block instance) as `$inputs[K]` names it: `.channels`, `.shape`."""

    ATTRIBUTES = ("channels", "shape")

    def __init__(self, channels, shape):
        self.channels = channels  # an int, or an Unknown that says why not
        self.shape = shape  # a list, the batch axis first (None), or an Unknown


def make_divisible(value, divisor=8, min_value=None):
    """The nearest multiple of `divisor` (at least `min_value`, default the divisor), not
    more than 10% below `value`: keras.applications' channel rounding (MobileNet, EfficientNet)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def round_to(value, divisor=8, min_value=None):
    """The nearest multiple of `divisor`, at least `min_value` (default the divisor): EfficientNetV2's
    round_filters, make_divisible without its 10% guard."""
    min_value = divisor if min_value is None else min_value
    return max(min_value, int(value + divisor / 2) // divisor * divisor)


FUNCTIONS = {
    "round": lambda x, digits=None: math.floor(x + 0.5) if digits is None else round(x, digits),  # half up
    "ceil": math.ceil,
    "floor": math.floor,
    "int": int,
    "float": float,
    "min": min,
    "max": max,
    "abs": abs,
    "make_divisible": make_divisible,
    "round_to": round_to,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_CONSTANTS = {"true": True, "false": False, "True": True, "False": False, "none": None, "None": None}


def is_expression(value) -> bool:
    """A string with a `$name` in it that is not just `$name` (a plain reference keeps its value's
    type), or arithmetic on numbers alone (`88 / 24`, `2 ** 10`, `make_divisible(88 * 0.75)`)."""
    if not isinstance(value, str):
        return False
    if "$" in value:
        return NAME.fullmatch(value.strip()) is None
    return is_constant_arithmetic(value)


_ARITHMETIC_NODES = (ast.BinOp, ast.UnaryOp, ast.Constant, ast.Call, ast.Name, ast.operator, ast.unaryop, ast.Load)


def is_constant_arithmetic(text: str) -> bool:
    """Whether `text` is arithmetic (an operator or one of the functions) on numbers alone: YAML
    reads `88 / 24` as a string, and a string there is never what was meant."""
    if len(text) > MAX_LENGTH or not any(c.isdigit() for c in text):
        return False
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return False
    nodes = list(ast.walk(tree.body))
    calls = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    return any(isinstance(n, (ast.BinOp, ast.Call)) for n in nodes) and all(
        isinstance(n, _ARITHMETIC_NODES)
        and not (isinstance(n, ast.Constant) and not isinstance(n.value, (int, float)))
        and not (isinstance(n, ast.Name) and (id(n) not in calls or n.id not in FUNCTIONS))
        for n in nodes
    )


def names_in(text: str) -> set[str]:
    return set(NAME.findall(text))


def evaluate(text: str, names: dict):
    """The value of the expression `text` with `names` ({'expand': 6, ...}); a SpecError says what is wrong."""
    if len(text) > MAX_LENGTH:
        raise SpecError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    for name in names_in(text):
        if isinstance(names.get(name), Unknown):
            raise SpecError(f"cannot evaluate {text!r}: {names[name].reason}")
        if name not in names:
            raise SpecError(
                f"the expression {text!r} uses ${name}, which is not defined here.{suggest(name, names)} "
                f"Defined: {', '.join('$' + n for n in sorted(names)) or 'none'}"
            )
    try:
        tree = ast.parse(NAME.sub(lambda m: _PREFIX + m.group(1), text.strip()), mode="eval")
    except SyntaxError as err:
        hint = (
            "a comparison is written ==, e.g. $strides == 2"
            if re.search(r"(?<![=!<>])=(?!=)", text)
            else "write arithmetic over $names, e.g. $in_channels * 6"
        )
        raise SpecError(f"cannot read the expression {text!r}: {err.msg} ({hint})") from None
    try:
        return _Evaluator(text, names).value(tree.body)
    except ZeroDivisionError:
        raise SpecError(f"the expression {text!r} divides by zero (with {_shown(text, names)})") from None
    except (OverflowError, ValueError, TypeError) as err:
        raise SpecError(f"cannot evaluate {text!r} (with {_shown(text, names)}): {err}") from None


def _shape(sizes) -> str:
    return "(" + ", ".join("None" if size is None else str(size) for size in sizes) + ")"


def _shown(text, names) -> str:
    return ", ".join(f"${n} = {names[n]!r}" for n in sorted(names_in(text))) or "no $names"


class _Evaluator:
    def __init__(self, text, names):
        self.text, self.names = text, names

    def refuse(self, what) -> SpecError:
        return SpecError(
            f"the expression {self.text!r} holds {what}; expressions take numbers, strings, $names, "
            f"arithmetic, comparisons, and/or/not, `A if C else B` and {', '.join(FUNCTIONS)}"
        )

    def value(self, node):
        kind = type(node)
        if kind is ast.Constant and isinstance(node.value, (int, float, str)) and not isinstance(node.value, bool):
            return node.value
        if kind is ast.Name:
            if node.id.startswith(_PREFIX):
                return self.names[node.id[len(_PREFIX) :]]
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise SpecError(
                f"the expression {self.text!r} names '{node.id}': a block parameter is written "
                f"${node.id}, a string in quotes"
            )
        if kind is ast.BinOp and type(node.op) in _BINARY:
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(left, str) or isinstance(right, str):
                if type(node.op) is not ast.Add or not (isinstance(left, str) and isinstance(right, str)):
                    raise self.refuse("arithmetic on a string (only + joins two strings)")
                return left + right
            if type(node.op) is ast.Pow and abs(right) > MAX_EXPONENT:
                raise SpecError(f"the expression {self.text!r} raises to the power {right}; at most {MAX_EXPONENT}")
            return self.checked(_BINARY[type(node.op)](left, right))
        if kind is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd, ast.Not):
            operand = self.value(node.operand)
            return not operand if type(node.op) is ast.Not else -operand if type(node.op) is ast.USub else +operand
        if kind is ast.BoolOp:
            values = [self.value(v) for v in node.values]
            return all(values) if type(node.op) is ast.And else any(values)
        if kind is ast.Compare and all(type(op) in _COMPARE for op in node.ops):
            left, result = self.value(node.left), True
            for op, comparator in zip(node.ops, node.comparators):
                right = self.value(comparator)
                result = result and _COMPARE[type(op)](left, right)
                left = right
            return result
        if kind in (ast.Subscript, ast.Attribute):
            return self.lookup(node)
        if kind is ast.IfExp:
            return self.value(node.body) if self.value(node.test) else self.value(node.orelse)
        if kind is ast.Call and type(node.func) is ast.Name and node.func.id in FUNCTIONS and not node.keywords:
            return self.checked(FUNCTIONS[node.func.id](*[self.value(a) for a in node.args]))
        if kind is ast.Call:
            name = getattr(node.func, "id", "?")
            raise SpecError(
                f"the expression {self.text!r} calls '{name}', which is not one of its functions: "
                f"{', '.join(FUNCTIONS)}.{suggest(name, FUNCTIONS)}"
            )
        raise self.refuse(article(kind.__name__))

    def lookup(self, node):
        """`$inputs[K]` and `.channels`: the one subscript and the one attribute expressions take."""
        if type(node) is ast.Subscript:
            sequence, index = self.value(node.value), self.value(node.slice)
            if not isinstance(sequence, list):
                raise self.refuse("a Subscript (only $inputs is indexed: $inputs[1].channels)")
            if not isinstance(index, int) or isinstance(index, bool) or not -len(sequence) <= index < len(sequence):
                what = "input" if sequence and isinstance(sequence[0], Input) else "axis"
                plural = {"input": "inputs", "axis": "axes"}[what]
                count = f"is 1 {what}" if len(sequence) == 1 else f"are {len(sequence)} {plural}"
                raise SpecError(f"the expression {self.text!r} asks for {what} {index!r}; there {count}, from 0")
            if sequence[index] is None:
                raise SpecError(
                    f"cannot evaluate {self.text!r}: axis {index} of the shape {_shape(sequence)} varies "
                    "(the batch axis, or a size left null)"
                )
            return sequence[index]
        owner = self.value(node.value)
        if not isinstance(owner, Input) or node.attr not in Input.ATTRIBUTES:
            raise self.refuse("an Attribute (an input has .channels and .shape: $inputs[1].channels)")
        found = getattr(owner, node.attr)
        if isinstance(found, Unknown):
            raise SpecError(f"cannot evaluate {self.text!r}: {found.reason}")
        return found

    def checked(self, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
            raise SpecError(f"the expression {self.text!r} makes {value:.3g}, beyond any size in a model")
        return value
