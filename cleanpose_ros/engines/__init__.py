"""Backends that run the CleanPose network: torch (torch_engine.py) and ONNX Runtime (onnx_engine.py).

Importing this package imports neither torch nor onnxruntime; each engine module does, when used.
Build engines and pipelines with engines/factory.py.
"""
