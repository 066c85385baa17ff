"""Generic layers shared by the notebooks: graph convolution units (``graph``)."""
