"""`probescan scan --cluster`: the scan's shards on a Dask cluster, the outputs on the client.

* `plan`: the shards, decided once by the client (pure);
* `merge`: the records coming back, each endpoint written once (pure);
* `worker`: the task a worker runs: one shard through the usual engine, records streamed back;
* `client`: connect or start a cluster, hand out the shards, collect, stop (imports Dask);
* `run`: the entry from `probescan scan`, the `--cluster` value, the last lines for the user.

Only `client` (and `worker`'s task, on the workers) import Dask, and only with `--cluster`.
See docs/cluster.md.
"""
