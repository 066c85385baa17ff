"""Data: the synthetic generator, real motion capture, loaders for real datasets, and
sequence utilities (observation-ratio cropping, normalisation, bone streams, Datasets).

Import the submodules directly, e.g. ``from paperlib.data import synthetic, ntu``.
"""
