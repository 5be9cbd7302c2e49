"""The CleanPose network in plain PyTorch (CPU-capable, ONNX-exportable inference path).

Entry points: `config.ModelConfig` / `config.load_model_config`, `network.CleanPose`,
`checkpoint.save_checkpoint` / `checkpoint.load_checkpoint`, `onnx_io.export_onnx`.
"""
