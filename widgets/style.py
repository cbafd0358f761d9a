"""pyqtgraph's configuration, set once at start-up (the app, the demos, the benches)."""
import pyqtgraph as pg


def configure_pyqtgraph() -> None:
    """Once at start-up: row-major images (else every image is transposed), light theme."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="#333")
