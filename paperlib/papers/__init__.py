"""One module per notebook: each notebook's experiment as one callable.

``paperlib.papers.<name>.run_experiment(seed=..., **params)`` is what a notebook runs for its
fresh single-seed result and what ``make reproduce NB=<stem>`` runs for every point of the
notebook's committed grid (``notebooks/results/<stem>/grid.json``): the same code. It returns
``{"metrics": {variant: {metric: float}}, "per_item": {variant: {metric: [per test item]}}}``.

- ``primer``: notebook 00 (the GCN baseline and the two probe references over observation ratios).
- ``ups``: notebook 02 (the four task views, the unified vocabulary, routed SEM-TEM encoder, token decoder).
- ``action_transformer``: notebook 04 (trunk + RPN, the Tx and I3D heads, frame-AP under the AVA protocol).

The shared floor (``paperlib.data``, ``paperlib.nn``, ``paperlib.metrics``, ``paperlib.viz``)
holds what several notebooks use; the paper-specific mechanisms move here notebook by notebook.
"""
