"""The forest as data: its one-line trees, and the same votes as scikit-learn's."""

from __future__ import annotations

import random

import pytest

from probescan.classify.forest import Forest, ForestError, format_tree, parse_tree
from probescan.classify.learn import learn_forest


def test_a_tree_line_reads_back() -> None:
    tree = parse_tree("3<517 =0 1<0.25 =1 =0:0.5,2:0.5", 3, 5)
    assert tree.feature == (3, -1, 1, -1, -1)
    assert tree.right == (2, 0, 4, 0, 0)
    assert format_tree(tree) == "3<517 =0 1<0.25 =1 =0:0.5,2:0.5"
    forest = Forest(("a", "b", "c"), (tree,), 5)
    assert forest.votes([0, 0, 0, 517, 0]) == [1.0, 0.0, 0.0]
    assert forest.votes([0, 0.2, 0, 600, 0]) == [0.0, 1.0, 0.0]
    assert forest.votes([0, 0.3, 0, 600, 0]) == [0.5, 0.0, 0.5]
    with pytest.raises(ValueError, match="4 features"):
        forest.votes([0, 0, 0, 0])


@pytest.mark.parametrize(("line", "why"), [
    ("3<517 =0", "does not end in leaves"),
    ("=0 =1", "after the last leaf"),
    ("9<1 =0 =0", "feature 9 of 5"),
    ("0<1 =7 =0", "class 7 of 3"),
    ("0<x =0 =0", "node '0<x'"),
    ("", "does not end in leaves"),
])
def test_a_bad_tree_line_says_why(line: str, why: str) -> None:
    with pytest.raises(ForestError, match=why):
        parse_tree(line, 3, 5)


def test_the_votes_are_scikit_learns() -> None:
    """On the flows it learnt from, the copied forest votes exactly as scikit-learn's."""
    np = pytest.importorskip("numpy")
    ensemble = pytest.importorskip("sklearn.ensemble")
    rng = random.Random(7)
    rows = [[rng.choice([0.0, 1.0]), rng.gauss(5, 2), rng.uniform(-3, 3), float(rng.randrange(9))]
            for _ in range(300)]
    labels = [("a" if r[1] > 5 else "b") if r[0] else rng.choice("cd") for r in rows]
    forest = learn_forest(rows, labels, trees=20, seed=3)
    model = ensemble.RandomForestClassifier(n_estimators=20, random_state=3, n_jobs=1)
    model.fit(np.asarray(rows, dtype=np.float32), labels)
    expected = model.predict_proba(np.asarray(rows, dtype=np.float32))
    assert forest.classes == ("a", "b", "c", "d")
    for row, p in zip(rows, expected, strict=True):
        assert forest.votes(row) == pytest.approx(list(p), abs=1e-3)
