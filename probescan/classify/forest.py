"""A random forest as data, and its vote (pure).

Each tree is a binary decision tree over the feature vector of classify/features.py: an inner
node sends a flow left when its feature is at most the node's threshold, right otherwise; a
leaf holds the shares of the classes of the training flows that reached it. The forest's
vote for a flow is the mean of its trees' leaves: the share of the trees that say each
class (all of them when every tree agrees).

A tree is written as one line of text, its nodes in preorder (a node, then its left
subtree, then its right one), separated by spaces:

    F<T        an inner node: feature number F, threshold T
    =C         a leaf of class number C alone
    =C:S,D:S   a leaf of several classes, with their shares

so `3<517 =0 =1` is "feature 3 at most 517: class 0, else class 1". Features are compared as
32-bit floats (as they were when the forest was learnt: classify/learn.py).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

Leaf = tuple[tuple[int, float], ...]


class ForestError(ValueError):
    """A tree's text that cannot be read."""


@dataclass(frozen=True, slots=True)
class Tree:
    feature: tuple[int, ...]  # per node; -1 for a leaf
    threshold: tuple[float, ...]
    right: tuple[int, ...]  # the right child of an inner node (the left one is the next node)
    leaf: tuple[Leaf, ...]  # per node: the class shares of a leaf (empty for an inner node)

    def decide(self, x: Sequence[float]) -> Leaf:
        feature, threshold, right = self.feature, self.threshold, self.right
        i = 0
        while (k := feature[i]) >= 0:
            i = i + 1 if x[k] <= threshold[i] else right[i]
        return self.leaf[i]


@dataclass(frozen=True, slots=True)
class Forest:
    classes: tuple[str, ...]
    trees: tuple[Tree, ...]
    features: int  # the length of the feature vector it reads

    def votes(self, x: Sequence[float]) -> list[float]:
        """The share of the trees' votes for each class (in `classes` order)."""
        if len(x) != self.features:
            raise ValueError(f"{len(x)} features, the forest reads {self.features}")
        x32 = array("f", x).tolist()  # as the forest was learnt
        shares = [0.0] * len(self.classes)
        for tree in self.trees:
            for c, share in tree.decide(x32):
                shares[c] += share
        n = len(self.trees) or 1
        return [s / n for s in shares]


def parse_tree(text: str, classes: int, features: int) -> Tree:
    """A tree from its line (ForestError naming what is wrong)."""
    feature: list[int] = []
    threshold: list[float] = []
    right: list[int] = []
    leaf: list[Leaf] = []
    waiting: list[int] = []  # inner nodes whose right child comes later
    leaf_before = False
    for token in text.split():
        i = len(feature)
        if leaf_before:
            if not waiting:
                raise ForestError("nodes after the last leaf")
            right[waiting.pop()] = i
        try:
            if token.startswith("="):
                leaf.append(_leaf(token[1:], classes))
                feature.append(-1)
                threshold.append(0.0)
                leaf_before = True
            else:
                f, t = token.split("<")
                k = int(f)
                if not 0 <= k < features:
                    raise ForestError(f"feature {k} of {features}")
                feature.append(k)
                threshold.append(float(t))
                leaf.append(())
                waiting.append(i)
                leaf_before = False
        except ValueError as e:
            raise ForestError(f"node {token!r}: {e}") from e
        right.append(0)
    if waiting or not feature:
        raise ForestError("a tree that does not end in leaves")
    return Tree(tuple(feature), tuple(threshold), tuple(right), tuple(leaf))


def _leaf(text: str, classes: int) -> Leaf:
    if ":" not in text:
        parts = [(int(text), 1.0)]
    else:
        parts = [(int(c), float(s)) for c, s in (p.split(":") for p in text.split(","))]
    for c, _ in parts:
        if not 0 <= c < classes:
            raise ForestError(f"class {c} of {classes}")
    return tuple(parts)


def format_tree(tree: Tree) -> str:
    """The tree's line (what parse_tree reads)."""
    out = []
    for k, t, leaf in zip(tree.feature, tree.threshold, tree.leaf, strict=True):
        if k >= 0:
            out.append(f"{k}<{_num(t)}")
        elif len(leaf) == 1 and leaf[0][1] == 1.0:
            out.append(f"={leaf[0][0]}")
        else:
            out.append("=" + ",".join(f"{c}:{_num(s)}" for c, s in leaf))
    return " ".join(out)


def _num(x: float) -> str:
    text = repr(x)
    return text[:-2] if text.endswith(".0") else text
