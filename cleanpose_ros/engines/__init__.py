"""Backends that run the CleanPose network: torch (torch_engine.py) and ONNX Runtime (onnx_engine.py).

Importing this package imports neither torch nor onnxruntime; each engine module does, when used.
Build engines and pipelines with engines/factory.py.
"""
import os

# OpenMP worker threads of torch's CPU kernels spin-wait by default. On a machine whose cores are
# shared (a robot running drivers, a CI box) spinning threads starve each other: lite, 5 objects,
# 2 threads on a loaded 2-core machine took 234 ms per frame spinning and 52 ms passive. libgomp
# reads this once, when torch is first imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
