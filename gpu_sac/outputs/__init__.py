"""What a run gives its user besides the trained state: the exported policy (`export`, and
`onnx_export`), videos (`video`), plots (`plot`), the progress bar (`progress`) and the TensorBoard
and W&B logs (`tensorboard_log`, `wandb_log`)."""
