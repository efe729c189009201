"""CI's torch-only venv (.ci/run, step 3): VLAP is the installed wheel, and neither
TensorFlow, Keras nor JAX is installed. Exits non-zero, naming what is wrong."""

import importlib.util
import sys

import VLAP

there = [m for m in ("tensorflow", "keras", "keras_hub", "jax") if importlib.util.find_spec(m)]
if there:
    sys.exit(f"the torch-only install holds {there}")
if "site-packages" not in VLAP.__file__:
    sys.exit(f"VLAP is not the installed wheel: {VLAP.__file__}")
print(f"== torch-only venv: VLAP from {VLAP.__file__}; no tensorflow, keras_hub, keras or jax")
