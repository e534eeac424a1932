"""The repository's documents and code comments date things by date and commit, never by round
of work ("the ninth session") or by issue number ("issue 16"), and their local links resolve.

Each file is its own test, so a failure names the file and lists ``file:line`` of each hit. Files
that still hold such mentions are marked ``xfail(strict=True)``: removing the last mention makes
the test pass, which fails until the file leaves ``STILL_DATED``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()
# twenty-first .. twenty-ninth (with a hyphen, a space or nothing between), then thirtieth
_ORDINALS += [f"twenty[- ]?{o}" for o in _ORDINALS[:9]] + ["thirtieth"]

# "the ninth session", "tenth and twelfth sessions", "issue 16", "issues 3 and 4", "issue-20"
DATED = re.compile(
    r"\b(?:" + "|".join(_ORDINALS) + r") sessions?\b|\bissues?[\s#-]*\d",
    re.IGNORECASE,
)

DOCS = ("README.md", "BENCHMARKS.md", "CHANGELOG.md", "docs/**/*.md")
CONFIGS = ("configs/**/*.py",)
CODE = ("projects/**/*.py", "tools/**/*.py", "train_net.py")

# files outside the documentation that still date something by round of work or issue
STILL_DATED: set[str] = set()


def _files(patterns: tuple[str, ...]) -> list[str]:
    found = {p.relative_to(REPO).as_posix() for pattern in patterns for p in REPO.glob(pattern)}
    return sorted(found)


def _params(patterns: tuple[str, ...]) -> list[object]:
    """One ``pytest.param`` per file, strict xfail where the file is in ``STILL_DATED``."""
    return [
        pytest.param(
            path,
            id=path,
            marks=(
                [pytest.mark.xfail(strict=True, reason=f"{path} still dates by session or issue")]
                if path in STILL_DATED
                else []
            ),
        )
        for path in _files(patterns)
    ]


def dated_lines(path: str) -> list[str]:
    """``path:line: text`` of each line of the file that dates by round of work or issue."""
    text = (REPO / path).read_text(encoding="utf-8")
    return [
        f"{path}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if DATED.search(line)
    ]


@pytest.mark.parametrize("path", _params(DOCS))
def test_docs_date_by_date_not_by_session_or_issue(path: str) -> None:
    hits = dated_lines(path)
    assert not hits, "dated by session or issue number:\n" + "\n".join(hits)


@pytest.mark.parametrize("path", _params(CONFIGS))
def test_configs_date_by_date_not_by_session_or_issue(path: str) -> None:
    hits = dated_lines(path)
    assert not hits, "dated by session or issue number:\n" + "\n".join(hits)


@pytest.mark.parametrize("path", _params(CODE))
def test_code_dates_by_date_not_by_session_or_issue(path: str) -> None:
    hits = dated_lines(path)
    assert not hits, "dated by session or issue number:\n" + "\n".join(hits)


def test_the_patterns() -> None:
    for dated in (
        "the ninth session",
        "Tenth and twelfth sessions",
        "twenty-first session",
        "issue 16",
        "Issue 16's bar",
        "issues 3 and 4",
        "the first issue-20 section",
        "issue #35",
    ):
        assert DATED.search(dated), dated
    for plain in (
        "the first run",
        "a session fixture",
        "the fifth sessile",
        "the issue's targets",
        "tissue 3",
        "2026-12-06, commit 3dc2c57",
    ):
        assert not DATED.search(plain), plain


# --- local links in the Markdown documents -------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`+[^`]*`+")
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_REFERENCE_USE = re.compile(r"\]\[([^\]]+)\]")  # [text][label]


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines outside fenced code blocks, with inline code spans removed."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, _CODE_SPAN.sub("", line)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation removed, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


@functools.cache
def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    result = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(path: str) -> list[str]:
    """``path:line: target`` of each local link whose file or heading does not exist, and of
    each ``[text][label]`` whose label the file does not define."""
    source = REPO / path
    lines = list(_prose_lines(source.read_text(encoding="utf-8")))
    defined = {m.group(1).lower() for _, line in lines if (m := _REFERENCE.match(line))}
    broken = []
    for number, line in lines:
        targets = _INLINE_LINK.findall(line)
        reference = _REFERENCE.match(line)
        if reference:
            targets.append(reference.group(2))
        broken += [
            f"{path}:{number}: [{label}] (no such reference)"
            for label in _REFERENCE_USE.findall(line)
            if label.lower() not in defined
        ]
        for target in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (source.parent / file_part).resolve() if file_part else source
            if not linked.exists():
                broken.append(f"{path}:{number}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path}:{number}: {target} (no such heading)")
    return broken


@pytest.mark.parametrize("path", _files(DOCS))
def test_local_links_resolve(path: str) -> None:
    broken = broken_links(path)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_slugs() -> None:
    assert (
        slug("2026-12-06 — a fused optimizer by default on digits; DRKD's distance")
        == "2026-12-06--a-fused-optimizer-by-default-on-digits-drkds-distance"
    )
    assert slug('`loss_weight="auto"` against the hand') == "loss_weightauto-against-the-hand"
