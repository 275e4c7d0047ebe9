"""Verdict rows: what each experiment concludes about the paper's claims, one row per claim, from which its
``report.md``, its docs page and its README line all write their verdicts (each experiment's ``verdicts``).

A row names the paper's claim (``where``: the table, figure or theorem; ``claim``: the statement tested), the
``scope`` it speaks for (networks, epochs, seeds), the ``verdict``, the ``numbers`` behind it and the
``tolerance`` that decided it. A verdict is a word of ``WORDS``, optionally followed by counts in parentheses
("PARTIAL (2 of 3)"), so a reader can find every verdict of the toolkit by its word and no page states one that
its rows do not hold (INFO marks a row that reports without judging).
"""

from __future__ import annotations

import re

import pandas as pd

from empirical.experiments.common.markdown import md_table

COLUMNS = ("where", "claim", "scope", "verdict", "numbers", "tolerance")
WORDS = (  # longest first, so NOT DECIDED is not read as DECIDED
    "NOT DECIDED",
    "NOT TESTED",
    "NON-VACUOUS",
    "INCONCLUSIVE",
    "NO EFFECT",
    "VACUOUS",
    "PARTIAL",
    "PASS",
    "FAIL",
    "INFO",
)
WORD = re.compile(r"\b(" + "|".join(re.escape(w) for w in WORDS) + r")\b")


def verdict_words(text: str) -> list[str]:
    """Every verdict word in ``text`` (a page, a report or a README line), in order."""
    return WORD.findall(text)


def counted(met: int, of: int, noun: str = "") -> str:
    """PASS when every one of ``of`` meets the claim, FAIL when none does, PARTIAL between; with the count
    ("PARTIAL (2 of 3)") where there is more than one."""
    if of == 0:
        return "NOT TESTED"
    word = "PASS" if met == of else "FAIL" if met == 0 else "PARTIAL"
    return word if of == 1 else f"{word} ({met} of {of}{' ' + noun if noun else ''})"


def table(rows: list[dict]) -> pd.DataFrame:
    """The verdict rows as a frame with exactly ``COLUMNS`` (one error naming a row without a verdict word)."""
    df = pd.DataFrame(rows, columns=list(COLUMNS)).astype(object).fillna("")
    for r in df.itertuples():
        if not verdict_words(str(r.verdict)):
            raise ValueError(
                f"verdict row {r.where!r} / {r.claim!r}: {r.verdict!r} is not a verdict ({', '.join(WORDS)})"
            )
    return df


def line(r, where: bool = True, scope: bool = True) -> str:
    """One verdict row (a namedtuple or a Series) as a sentence: where and claim, its scope, the verdict in bold,
    the numbers; ``where`` or ``scope`` left out where the text around it already says them."""
    get = r.__getitem__ if isinstance(r, pd.Series) else r.__getattribute__  # a Series' .where is a method
    said = f" ({get('scope')})" if scope and get("scope") else ""
    numbers = f": {get('numbers')}" if get("numbers") else ""
    return f"{get('where') + ': ' if where else ''}{get('claim')}{said} — **{get('verdict')}**{numbers}"


def section(rows: pd.DataFrame, title: str = "## Verdicts") -> list[str]:
    """The report's verdict section: the rows as one table (scope and tolerance beside each verdict)."""
    return [title, "", md_table(rows[list(COLUMNS)]), ""]
