"""Learning a forest (classify/forest.py) from labelled feature vectors with scikit-learn.

Only `probescan profiles train` learns, so scikit-learn is an optional dependency
(`pip install 'probescan[train]'`), imported here and nowhere else; reading profiles and
classifying flows is pure Python. Why a random forest, and why scikit-learn's:
docs/classify.md ("The method").

The learnt trees are copied node by node into the forest's own form, with each threshold
replaced by the shortest decimal that splits the training values the same way (the files
stay small and every training flow goes down the same path as in scikit-learn's tree).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from probescan.classify.forest import Forest, Leaf, Tree

NEAR = 0.02  # a rounded threshold stays this share of the gap from scikit-learn's


class LearnError(Exception):
    """Learning cannot run here (one line)."""


def learn_forest(rows: Sequence[Sequence[float]], labels: Sequence[str], *, trees: int = 100,
                 seed: int = 0) -> Forest:
    """A random forest of `trees` trees: each grown in full on a bootstrap sample of the
    rows, trying the square root of the features' count at each split."""
    try:
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
    except ImportError as e:
        raise LearnError("learning profiles needs scikit-learn: "
                         "pip install 'probescan[train]'") from e
    x = np.asarray(rows, dtype=np.float32)
    y = np.asarray(labels)
    model = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1)
    model.fit(x, y)
    values = [np.unique(x[:, k]) for k in range(x.shape[1])]
    classes = tuple(str(c) for c in model.classes_)
    out = []
    index = list(range(len(classes)))  # the trees' columns are the forest's classes
    for est in model.estimators_:
        if est.tree_.value.shape[-1] != len(classes):
            raise LearnError("scikit-learn's trees do not hold the forest's classes")
        out.append(_tree(est.tree_, index, values))
    return Forest(classes, tuple(out), x.shape[1])


def _tree(t: Any, index: list[int], values: list[Any]) -> Tree:
    feature: list[int] = []
    threshold: list[float] = []
    right: list[int] = []
    leaf: list[Leaf] = []
    fix: list[tuple[int, int]] = []  # (our inner node, its right child in sklearn's tree)
    stack = [0]  # sklearn's node ids, visited in preorder
    where: dict[int, int] = {}
    while stack:
        node = stack.pop()
        i = len(feature)
        where[node] = i
        left, rgt = int(t.children_left[node]), int(t.children_right[node])
        if left < 0:
            feature.append(-1)
            threshold.append(0.0)
            leaf.append(_shares(t.value[node][0], index))
        else:
            k = int(t.feature[node])
            feature.append(k)
            threshold.append(_short(float(t.threshold[node]), values[k]))
            leaf.append(())
            fix.append((i, rgt))
            stack += [rgt, left]  # left first
        right.append(0)
    for i, node in fix:
        right[i] = where[node]
    return Tree(tuple(feature), tuple(threshold), tuple(right), tuple(leaf))


def _shares(value: Any, index: list[int]) -> Leaf:
    total = float(sum(value))
    parts = [(index[j], round(float(v) / total, 4)) for j, v in enumerate(value) if v > 0]
    parts.sort(key=lambda p: -p[1])
    return tuple(parts)


def _short(threshold: float, seen: Any) -> float:
    """The threshold (scikit-learn's midpoint between two training values a < b of the
    feature) rounded to as few digits as keep a <= d < b (so the split is the same on them)
    and keep it within NEAR of the gap from the midpoint (so it stays where it was for
    values between them)."""
    import numpy as np

    pos = int(np.searchsorted(seen, threshold, side="right"))
    if pos == 0 or pos >= len(seen):
        return float(threshold)
    a, b = float(seen[pos - 1]), float(seen[pos])
    near = (b - a) * NEAR
    for digits in range(-3, 12):  # the midpoint, rounded as far as the split allows
        d = round(float(threshold), digits)
        if a <= d < b and abs(d - threshold) <= near:
            return d
    return float(threshold)
