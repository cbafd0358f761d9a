# Makes the repository root importable in tests (engines, visualizer, widgets) and keeps Qt offscreen.
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
