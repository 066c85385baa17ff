"""Plotting and widget building blocks (``skeleton`` figures, the skeleton ``player``)."""
