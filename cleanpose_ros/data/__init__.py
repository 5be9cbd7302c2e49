"""Synthetic data generation, NOCS / HouseCat6D readers and the training dataset (docs/data.md).

Modules: shapes (procedural category meshes), scene (layout + one rendered frame), render (EGL
rasteriser), depth_noise (sensor model), nocs_layout / nocs_writer / nocs_reader / nocs_pickle (NOCS
tree), housecat_layout / housecat_writer / housecat_reader (HouseCat6D), generator (parallel
generation), overview (picture of a frame), augment and training_dataset (training inputs).
The shared preprocessing itself lives in cleanpose_ros.core.preprocess.
"""
