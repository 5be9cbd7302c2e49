"""rosbag2 files without a ROS install (rosbags): make bags from NOCS folders, replay them through
the node's pipeline, and play them into / record them from a running node (docs/rosbag.md)."""
