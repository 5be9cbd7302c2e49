"""Launch cleanpose_node for one RGB-D camera (and optionally RViz) on a real ROS 2 install.

  ros2 launch cleanpose_ros cleanpose.launch.py camera:=/camera engine:=onnx rviz:=true

The node's relative input topics are remapped into the camera's namespace; the defaults follow
the realsense2_camera layout (colour-aligned depth). Every node parameter comes from
`params_file` (default: the package's config/cleanpose.yaml); `weights`, `engine`, `device` and
`use_detections` override it from the command line. Needs `launch` and `launch_ros`, which are
not on PyPI: with the wheel-only install, start `cleanpose_node` directly (docs/interfaces.md).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "cleanpose_ros"

#: (launch argument, default, description)
ARGUMENTS = (
    ("namespace", "", "namespace of cleanpose_node (its outputs live under it)"),
    ("camera", "/camera", "namespace of the camera driver's topics"),
    ("color_topic", "color/image_raw", "colour image, relative to `camera`"),
    ("depth_topic", "aligned_depth_to_color/image_raw", "depth aligned to colour, relative to `camera`"),
    ("camera_info_topic", "color/camera_info", "colour camera info, relative to `camera`"),
    ("mask_topic", "/segmentation/mask", "instance-id mask of the segmenter"),
    ("detections_topic", "/segmentation/detections", "Detection2DArray of the segmenter"),
    ("params_file", "", "ROS params file; empty = <share>/config/cleanpose.yaml"),
    ("weights", "", "weights file; empty = the shipped weights/cleanpose_lite.pt"),
    ("engine", "onnx", "onnx (default) or torch"),
    ("device", "cpu", "cpu, cuda:0, ..."),
    ("use_detections", "true", "false: mask values are NOCS class ids, no Detection2DArray"),
    ("rviz", "false", "also start RViz with the package's config/cleanpose.rviz"),
)


def _camera_topic(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([LaunchConfiguration("camera"), LaunchConfiguration(name)])


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    default_params = PathJoinSubstitution([share, "config", "cleanpose.yaml"])
    declared = [DeclareLaunchArgument(name, default_value=default, description=help)
                for name, default, help in ARGUMENTS]
    declared[[a[0] for a in ARGUMENTS].index("params_file")] = DeclareLaunchArgument(
        "params_file", default_value=default_params, description="ROS params file of cleanpose_node")

    node = Node(
        package=PACKAGE,
        executable="cleanpose_node",
        name="cleanpose_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                # value_type keeps "" a string and "true" a bool instead of YAML guessing.
                "inference.weights": ParameterValue(LaunchConfiguration("weights"), value_type=str),
                "inference.engine": ParameterValue(LaunchConfiguration("engine"), value_type=str),
                "inference.device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "use_detections": ParameterValue(LaunchConfiguration("use_detections"), value_type=bool),
            },
        ],
        remappings=[
            ("color/image_raw", _camera_topic("color_topic")),
            ("depth/image_raw", _camera_topic("depth_topic")),
            ("color/camera_info", _camera_topic("camera_info_topic")),
            ("segmentation/mask", LaunchConfiguration("mask_topic")),
            ("segmentation/detections", LaunchConfiguration("detections_topic")),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="cleanpose_rviz",
        arguments=["-d", PathJoinSubstitution([share, "config", "cleanpose.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="log",
    )
    return LaunchDescription([*declared, node, rviz])
