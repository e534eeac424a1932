"""Argument checks shared by the distillers: each refuses a bad value by name, saying what the
argument takes (a value typed on the command line arrives as a string, a bool or NaN)."""

from __future__ import annotations

import math
import numbers
import warnings


def check_choice(owner: str, what: str, value, allowed) -> None:
    """Raise ``ValueError`` naming ``owner``'s argument ``what`` unless ``value`` is allowed."""
    if value not in allowed:
        raise ValueError(f"{owner}: {what} must be one of {allowed}, got {value!r}")


def check_nonnegative(owner: str, **values: float) -> None:
    """Raise ``ValueError`` naming the first of ``owner``'s arguments that is not a finite
    number ``>= 0`` (a string from a command-line override, a bool, NaN and inf included)."""
    for what, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(
                f"{owner}: {what} must be a number, got {value!r} ({type(value).__name__})"
            )
        if not math.isfinite(value):
            raise ValueError(f"{owner}: {what} must be a finite number, got {value}")
        if value < 0:
            raise ValueError(f"{owner}: {what} must be >= 0, got {value}")


def check_range(
    owner: str,
    what: str,
    value,
    low: float,
    high: float = math.inf,
    *,
    include_low: bool = True,
    include_high: bool = True,
) -> float:
    """``value`` as a ``float``; ``ValueError`` naming ``owner``'s argument ``what`` unless it
    is a number between ``low`` and ``high`` (each bound included or not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{owner}: {what} must be a number, got {value!r}")
    above = value >= low if include_low else value > low
    below = value <= high if include_high else value < high
    if not (above and below):
        if high == math.inf:
            bound = f"{'>=' if include_low else '>'} {low}"
        else:
            bound = f"in {'[(' [not include_low]}{low}, {high}{'])' [not include_high]}"
        raise ValueError(f"{owner}: {what} must be {bound}, got {value}")
    return float(value)


def check_whole_number(name: str, value, minimum: int = 0) -> int:
    """``value`` as an ``int``; ``ValueError`` naming the setting ``name`` unless it is a whole
    number ``>= minimum`` (``2.0`` passes; ``2.5``, ``"3"`` and ``True`` do not)."""
    whole = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not whole or not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def names_list(owner: str, what: str, value) -> list[str] | None:
    """``value`` (a list of feature names, or ``None``) as a list; a bare string such as
    ``student_features=p3`` from a command-line override is refused, not split into letters."""
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        hint = f"; write [{value!r}] for one name" if isinstance(value, str) else ""
        raise ValueError(f"{owner}: {what} must be a list of feature names, got {value!r}{hint}")
    return list(value)


def paired_names(owner: str, student, teacher) -> tuple[list[str], list[str]]:
    """``(student names, teacher names)`` of a distiller that pairs features in order: both
    lists as :func:`names_list` reads them, the teacher's defaulting to the student's; refused
    when the student's is empty or the two differ in length."""
    student_names = names_list(owner, "student_features", student) or []
    teacher_names = names_list(owner, "teacher_features", teacher) or student_names
    if not student_names:
        raise ValueError(f"{owner}: student_features is empty")
    if len(student_names) != len(teacher_names):
        raise ValueError(
            f"{owner}: {len(student_names)} student features {student_names} but "
            f"{len(teacher_names)} teacher features {teacher_names}"
        )
    return student_names, teacher_names


def renamed_arguments(
    owner: str, values: dict[str, object], extra: dict, former: dict[str, str]
) -> dict[str, tuple[str, object]]:
    """Arguments that were renamed, read under their current or their former names, so that
    configs written for the former names keep working (with a ``DeprecationWarning``).

    Args:
        owner: the class the arguments belong to, for messages.
        values: ``{current name: value}``, ``None`` where the caller did not give it.
        extra: the keyword arguments ``owner`` took beyond its named ones; each former name
            found there is removed from it.
        former: ``{former name: current name}``.

    Returns:
        ``{current name: (name as given, value)}`` of every argument given under either name
        (checks name the argument as the caller wrote it).

    Raises:
        TypeError: an argument given under both names.
    """
    given = {name: (name, value) for name, value in values.items() if value is not None}
    for old, new in former.items():
        if old not in extra:
            continue
        value = extra.pop(old)
        if new in given:
            raise TypeError(f"{owner}: {old} is the former name of {new}; give only {new}")
        warnings.warn(
            f"{owner}: {old} is deprecated; its name is now {new}", DeprecationWarning, stacklevel=3
        )
        given[new] = (old, value)
    return given
