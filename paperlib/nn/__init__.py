"""Generic layers shared by the notebooks.

- ``graph``: graph convolution units (ST-GCN / 2s-AGCN), temporal convolution, TCN-GCN blocks.
- ``spatial``: glimpse crop, RoIAlign, box ops, anchors and NMS on plain torch.
"""
