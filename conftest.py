# Makes the repository root importable in tests (engines, visualizer, widgets) and keeps Qt offscreen.
import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Preferences (QSettings), the cache folder (keyframes on disk) and the autosaves of a test run
# stay in a folder of its own, away from the user's.
_scratch = tempfile.mkdtemp(prefix="stepwise-tests-")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_scratch, "config")
os.environ.setdefault("STEPWISE_CACHE", os.path.join(_scratch, "cache"))
os.environ.setdefault("STEPWISE_AUTOSAVE", os.path.join(_scratch, "autosave"))
