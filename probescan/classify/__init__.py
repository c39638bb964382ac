"""Classification beyond the payload: a flow's behaviour (sizes, timing) against trained
protocol profiles, the flow's class, and the layers that decide a flow's name.

    features.py     Behaviour (from the flow table) and its feature vector
    flowclass.py    control, chatter, file transfer, failed attempt
    forest.py       a random forest as data (one line a tree) and its vote
    learn.py        learning a forest with scikit-learn (only `profiles train` needs it)
    profiles.py     profiles and forests as data: train, write (TOML), load
    statistical.py  the statistical layer: the forest's vote, the verdict
    layers.py       the layers (rules, parsers, statistics), --classifiers, `decided_by`

Pure: the files are read by profiles.load; captures are read by watch/training.py.
"""
