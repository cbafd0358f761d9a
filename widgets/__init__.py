"""Thin pyqtgraph/Qt views. Each builds its items once and renders plain arrays in set_snapshot(...)."""
