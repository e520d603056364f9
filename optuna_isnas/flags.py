"""Settings that carry their own command-line flags.

A settings dataclass (``SearchConfig``, ``TrainingRecipe``, ``CompareConfig``) declares each field
with :func:`setting`, which records either the field's flags or why it has none. The command lines
build their parsers from those declarations (:func:`add_flags`) and read the given values back
(:func:`given_values`), so a new setting is declared once, next to its default and its meaning.

Values are parsed after argparse (it keeps the text), so that a value that does not parse is
reported as one ``error: ...`` line naming the flag, like every other bad setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna_isnas.errors import SettingsError

Parser = Callable[[str], Any]


class ParseError(ValueError):
    """A flag's text that does not parse; the message continues ``--flag 'text' ...``."""


@dataclass(frozen=True)
class Flag:
    """How a setting is given on the command line.

    Attributes:
        names: Option strings, e.g. ``("-K", "--num-distributions")``.
        help: What the setting means (or a function returning it, for texts built from names
            that live in modules the settings should not import); ``(default ...)`` is
            appended from the parser's defaults.
        parse: Text -> value (raises :class:`ParseError`); None keeps the text.
        metavar: Placeholder shown in the usage line.
        choices: Allowed values (checked by argparse, listed in the help).
        switch: A flag without a value that sets the setting to ``value``.
        value: The value a ``switch`` sets.
        repeat: Repeatable ``KEY=VALUE`` entries collected into a dict.
        key: Sets one entry ``key`` of a dict setting (e.g. ``--width`` of ``space_options``).
        group: Flags of one group are mutually exclusive.
        default_text: How to describe the default where its value would not say it (or a
            function returning it); a command that supplies its own default shows that instead.
    """

    names: tuple[str, ...]
    help: str | Callable[[], str]
    parse: Parser | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    switch: bool = False
    value: Any = True
    repeat: bool = False
    key: str | None = None
    group: str | None = None
    default_text: str | Callable[[], str] | None = None

    @property
    def dest(self) -> str:
        return self.names[-1].lstrip("-").replace("-", "_")


def flag(*names: str, help: str | Callable[[], str], **options: Any) -> Flag:
    """A :class:`Flag`; see its attributes for ``options``."""
    return Flag(names=names, help=help, **options)


def setting(
    *flags: Flag,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    no_flag: str | None = None,
) -> Any:
    """A dataclass field with its flags, or with ``no_flag``: the reason it has none."""
    if bool(flags) == (no_flag is not None):
        raise TypeError("a setting has flags or a no_flag reason, exactly one of them")
    metadata = {"flags": flags} if flags else {"no_flag": no_flag}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flags_of(field: dataclasses.Field[Any]) -> tuple[Flag, ...]:
    return tuple(field.metadata.get("flags", ()))


def flagged_fields(cls: type, exclude: Sequence[str] = ()) -> Iterator[dataclasses.Field[Any]]:
    """The fields of dataclass ``cls`` that have flags, minus ``exclude``."""
    for field in dataclasses.fields(cls):
        if field.name not in exclude and flags_of(field):
            yield field


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    defaults: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = (),
    aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> None:
    """Add the flags of dataclass ``cls``'s settings to ``parser``.

    Args:
        parser: The (sub)command's parser.
        cls: A dataclass whose fields were declared with :func:`setting`.
        defaults: The values used when a flag is not given (for the help text; the parser's own
            default is always None, "not given"). Default: the fields' defaults.
        exclude: Settings this command sets itself (no flag).
        aliases: Extra option strings per setting name.
    """
    groups: dict[str, Any] = {}
    given = defaults or {}
    for field in flagged_fields(cls, exclude):
        overridden = field.name in given
        default = given[field.name] if overridden else _field_default(field)
        for f in flags_of(field):
            target: Any = parser
            if f.group is not None:
                if f.group not in groups:
                    groups[f.group] = parser.add_mutually_exclusive_group()
                target = groups[f.group]
            names = f.names + tuple((aliases or {}).get(field.name, ()) if f.key is None else ())
            kwargs: dict[str, Any] = {"dest": _dest(field, f), "default": None}
            if f.switch:
                kwargs["action"] = "store_true"
            else:
                kwargs["metavar"] = f.metavar
                if f.choices is not None:
                    kwargs["choices"] = f.choices
                if f.repeat:
                    kwargs["action"] = "append"
            kwargs["help"] = _help(f, default, overridden)
            target.add_argument(*names, **kwargs)


def given_values(
    args: argparse.Namespace, cls: type, exclude: Sequence[str] = ()
) -> dict[str, Any]:
    """The settings of ``cls`` given on the command line, parsed: name -> value.

    Raises:
        SettingsError: A value that does not parse, naming its flag.
    """
    values: dict[str, Any] = {}
    for field in flagged_fields(cls, exclude):
        for f in flags_of(field):
            raw = getattr(args, _dest(field, f), None)
            if raw is None or raw is False:
                continue
            if f.switch:
                value = f.value
            elif f.repeat:
                value = dict(_parse(f, text) for text in raw)
            else:
                value = _parse(f, raw)
            if f.key is not None:
                values.setdefault(field.name, {})[f.key] = value
            elif isinstance(value, dict) and isinstance(values.get(field.name), dict):
                values[field.name] = {**value, **values[field.name]}
            else:
                values[field.name] = value
    return values


def _dest(field: dataclasses.Field[Any], f: Flag) -> str:
    return field.name if f.key is None else f"{field.name}__{f.key}"


def _field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _help(f: Flag, default: Any, overridden: bool) -> str:
    text = f.help() if callable(f.help) else f.help
    if f.switch or f.repeat or f.key is not None:
        return text
    if f.default_text is not None and not overridden:
        default_text = f.default_text() if callable(f.default_text) else f.default_text
        return f"{text} (default: {default_text})"
    if default is None or default == {}:
        return text
    if isinstance(default, tuple | list):
        default = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
    return f"{text} (default: {default})"


def _parse(f: Flag, text: str) -> Any:
    if f.parse is None:
        return text
    try:
        return f.parse(text)
    except ParseError as exc:
        raise SettingsError(f"{f.names[-1]} {text!r} {exc}") from None


# ---------------------------------------------------------------------------------- parsers
def integer(text: str) -> int:
    """``"12"`` -> 12."""
    try:
        return int(text)
    except ValueError:
        raise ParseError("is not a whole number") from None


def number(text: str) -> float:
    """``"0.05"`` -> 0.05."""
    try:
        return float(text)
    except ValueError:
        raise ParseError("is not a number") from None


def numbers(text: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` -> ``(0.0, 0.5, 1.0)``."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ParseError("does not parse: give comma-separated numbers, e.g. 0,0.5,1") from None


def integers(text: str) -> tuple[int, ...]:
    """``"0,3,7"`` -> ``(0, 3, 7)``."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ParseError("does not parse: give comma-separated whole numbers, e.g. 0,1,2") from None


def names(text: str) -> tuple[str, ...]:
    """``"isnas, random"`` -> ``("isnas", "random")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


_SUFFIXES = {"K": 1e3, "M": 1e6, "G": 1e9}


def sizes(text: str) -> tuple[float, ...]:
    """``"0.2M,500K,1e6"`` -> ``(200000.0, 500000.0, 1000000.0)``; K, M, G suffixes (any case)."""
    values = []
    for item in text.split(","):
        part = item.strip()
        scale = _SUFFIXES.get(part[-1:].upper(), 1.0) if part else 1.0
        try:
            value = float(part[:-1] if scale != 1.0 else part) * scale
        except ValueError:
            raise ParseError(
                f"does not parse at {item!r}: give comma-separated sizes with an optional K, M "
                "or G suffix, e.g. 0.2M,0.5M,1M"
            ) from None
        if not (value > 0 and math.isfinite(value)):
            raise ParseError(f"is not allowed: every budget must be a positive size, got {item!r}")
        values.append(value)
    return tuple(values)


def key_value(text: str) -> tuple[str, Any]:
    """``"weighting=own"`` -> ``("weighting", "own")``; numbers, true/false/null parse as JSON."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ParseError("does not parse: give KEY=VALUE, e.g. weighting=own or loss_scale=1.0")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed
