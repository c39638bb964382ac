"""Classification beyond the payload: a flow's behaviour (sizes, timing) against trained
protocol profiles, the flow's class, and the layers that decide a flow's name.

    features.py     Behaviour (from the flow table) and its attribute meters; the distance
    flowclass.py    control, chatter, file transfer, failed attempt
    profiles.py     profiles as data: train, write (TOML), load
    statistical.py  the statistical layer: the nearest profile, its distance, the verdict
    layers.py       the layers (rules, parsers, statistics), --classifiers, `decided_by`

Pure: the files are read by profiles.load; captures are read by watch/training.py.
"""
