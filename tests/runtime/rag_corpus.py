"""A dozen short documents with one made-up fact each, and questions whose answer is known.

The facts are invented so no model can answer from what it learned before: a question is
answered only by retrieving its document. Questions are paraphrased (few shared words) so
recall measures the embeddings, not string overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CODE_DOCUMENT", "DOCUMENTS", "QUESTIONS", "Fact", "recall_at_k"]


@dataclass(frozen=True)
class Fact:
    key: str
    text: str
    topic: str


DOCUMENTS: tuple[Fact, ...] = (
    Fact("lighthouse", "The Varnholt lighthouse on Kelmar Island was painted emerald green "
         "in 1921 after a storm stripped its old paint.", "history"),
    Fact("festival", "Every August the town of Brisk Hollow holds a festival where people "
         "race wooden ducks down the Tallow river.", "culture"),
    Fact("cluster", "The Orion GPU cluster in the Lisbon data center has 48 nodes, each "
         "with eight accelerators.", "infrastructure"),
    Fact("recipe", "Grandmother Ilse's plum cake needs four eggs, cinnamon and a cup of "
         "crushed hazelnuts, baked for forty minutes.", "cooking"),
    Fact("mountain", "Mount Serrat-Vo is 5,210 metres tall and was first climbed by a "
         "team of three geologists in 1963.", "geography"),
    Fact("comet", "Astronomers named the comet Pell-Harrow after the two amateurs who "
         "spotted it from a farm in Saskatchewan.", "science"),
    Fact("language", "The Quenari language has no word for left or right; speakers give "
         "directions with north, south, east and west.", "culture"),
    Fact("ship", "The cargo ship Maren Loft sank in the Baltic in 1987 carrying a load "
         "of pianos bound for Riga.", "history"),
    Fact("battery", "The Tessel T9 battery stores 14 kilowatt-hours and is charged fully "
         "from solar panels in about six hours.", "technology"),
    Fact("library", "The Oakmere public library lends out telescopes and sewing machines "
         "in addition to books.", "culture"),
    Fact("bird", "The azure-crested fenwick is a small bird that nests only in the cliffs "
         "of the Dolomar coast and eats beetles.", "science"),
    Fact("policy", "Employees at Northwind Logistics may work remotely on Tuesdays and "
         "Thursdays and must be in the office on Mondays.", "company"),
)  # fmt: skip

QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What colour did they paint the tower that guides ships near Kelmar?", "lighthouse"),
    ("Which event involves toy ducks floating on a river?", "festival"),
    ("How many machines does the Lisbon accelerator cluster have?", "cluster"),
    ("Which nuts go into the plum cake?", "recipe"),
    ("How high is Serrat-Vo and when did people first reach its summit?", "mountain"),
    ("Who discovered the comet Pell-Harrow?", "comet"),
    ("How do people speaking Quenari describe directions?", "language"),
    ("What was the Maren Loft transporting when it went down?", "ship"),
    ("How much energy can the T9 battery hold?", "battery"),
    ("Can I borrow a telescope from the library in Oakmere?", "library"),
    ("Where does the fenwick bird build its nests?", "bird"),
    ("Which days can Northwind staff work from home?", "policy"),
)

CODE_DOCUMENT = '''import math


def circle_area(radius: float) -> float:
    """The area of a circle."""
    return math.pi * radius * radius


def hypotenuse(a: float, b: float) -> float:
    """The long side of a right triangle."""
    return math.sqrt(a * a + b * b)


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def increment(self) -> int:
        self.count += 1
        return self.count
'''


def recall_at_k(ranked: Sequence[Sequence[str]], expected: Sequence[str], k: int) -> float:
    """The share of questions whose expected document is among the first ``k`` results."""
    hits = sum(1 for keys, key in zip(ranked, expected, strict=True) if key in keys[:k])
    return hits / len(expected)
