"""ament_python package definition; also installs with plain pip into a venv."""
from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = "cleanpose_ros"


def _data(dest: str, pattern: str) -> tuple[str, list[str]]:
    return (os.path.join("share", PACKAGE, dest), sorted(p for p in glob(pattern) if os.path.isfile(p)))


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    python_requires=">=3.10",
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        _data("launch", "launch/*.py"),
        _data("config", "config/*.yaml"),
        _data("config", "config/*.xml"),
        _data("config", "config/*.rviz"),
        _data("config/model", "config/model/*.yaml"),
        _data("weights", "weights/*"),
    ],
    # The core (preprocessing, postprocessing, the tracker) and the ROS layer need only these; the
    # inference engines come as extras, because torch's CPU and CUDA builds are different wheels:
    #   pip install torch --index-url https://download.pytorch.org/whl/cpu && pip install ".[cpu]"
    #   pip install ".[gpu]"    # PyPI's torch (CUDA build on Linux x86_64) + onnxruntime-gpu
    # rclpy and the message packages come from a ROS 2 install or requirements/ros-wheels.txt.
    install_requires=["setuptools", "numpy>=1.24", "pyyaml>=6.0", "pillow>=10.0", "scipy>=1.10", "tqdm>=4.66"],
    extras_require={
        "cpu": ["torch>=2.4", "onnx>=1.17", "onnxscript", "onnxruntime>=1.20", "safetensors>=0.4"],
        "gpu": ["torch>=2.4", "onnx>=1.17", "onnxscript", "onnxruntime-gpu>=1.20", "safetensors>=0.4"],
        "data": ["moderngl>=5.10", "trimesh>=4.0", "manifold3d>=2.5", "mapbox-earcut", "matplotlib>=3.7"],
        "bags": ["rosbags>=0.10"],
        # inference.engine triton: the gRPC client (it needs protobuf<7 and ml-dtypes<=0.5.4, which onnx accepts)
        "triton": ["tritonclient[grpc]>=2.51"],
        # cleanpose-triton-serve: PyTriton pins numpy<2, so this goes into a venv of its own with
        # `pip install --no-deps` of this package (scripts/setup_triton.sh), not next to the node
        "triton-server": ["nvidia-pytriton>=0.7", "onnxruntime>=1.20"],
    },
    zip_safe=True,
    maintainer="cleanpose_ros maintainers",
    maintainer_email="maintainers@cleanpose-ros.invalid",
    description="CleanPose category-level 6D pose and size estimation for ROS 2",
    license="MIT",
    entry_points={
        "console_scripts": [
            # ROS executables (ros2 run cleanpose_ros <name>)
            "cleanpose_node = cleanpose_ros.ros.node:main",
            "demo_camera = cleanpose_ros.ros.demo_camera:main",
            "smoke = cleanpose_ros.tools.smoke:main",
            # offline tools
            "cleanpose-smoke = cleanpose_ros.tools.smoke:main",
            "cleanpose-demo = cleanpose_ros.tools.demo:main",
            "cleanpose-generate = cleanpose_ros.tools.generate:main",
            "cleanpose-train = cleanpose_ros.tools.train:main",
            "cleanpose-pretrain-teacher = cleanpose_ros.tools.pretrain_teacher:main",
            "cleanpose-evaluate = cleanpose_ros.tools.evaluate:main",
            "cleanpose-export = cleanpose_ros.tools.export:main",
            "cleanpose-make-bag = cleanpose_ros.tools.make_bag:main",
            "cleanpose-replay = cleanpose_ros.tools.replay:main",
            "cleanpose-study-report = cleanpose_ros.tools.study_report:main",
            "cleanpose-learning-curve = cleanpose_ros.tools.learning_curve:main",
            "cleanpose-calibrate-confidence = cleanpose_ros.tools.calibrate_confidence:main",
            "cleanpose-triton-repo = cleanpose_ros.tools.triton_repo:main",
            "cleanpose-triton-serve = cleanpose_ros.tools.triton_serve:main",
        ],
    },
)
