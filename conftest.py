# Makes the repository root importable in tests (engines, visualizer, widgets) and keeps Qt offscreen.
import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# autosaves of the windows under test go to a folder of their own, never the user's cache
os.environ.setdefault("STEPWISE_AUTOSAVE", tempfile.mkdtemp(prefix="stepwise-test-autosave-"))
