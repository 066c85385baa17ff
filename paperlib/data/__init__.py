"""Data: generators, real motion capture, loaders for real datasets, and sequence utilities.

- ``synthetic``: procedural skeleton actions in the NTU-25 layout (the embedded default).
- ``mocap``: the DeepMimic humanoid clips shipped with pybullet, with an NTU-25 mapping.
- ``ntu``, ``kinetics``, ``h36m``: loaders for NTU RGB+D, Kinetics-skeleton, Human3.6M.
- ``sequences``: observation-ratio cropping without leakage, normalisation, bone streams, Datasets.
- ``render``, ``video``: rendered RGB clips (single-person, AVA-like multi-person).
- ``ava``, ``frames``: AVA v2.x annotations and frame-folder videos.
- ``arrays``, ``errors``: the shared container and the loaders' error/skip reporting.

Import the submodules directly, e.g. ``from paperlib.data import synthetic, ntu``.
"""
