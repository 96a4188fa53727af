"""Valhalla: operations toolkit for a Canada-wide real-estate wholesaling business."""

__version__ = "0.1.0"
