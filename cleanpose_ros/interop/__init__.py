"""ROS message layouts without rclpy, shared by the node (ros/) and the rosbag tools (bags/): converters
between messages and numpy (work on rclpy and rosbags message objects alike), the output specs (markers, TF
names) both build their messages from, and the approximate-time synchroniser both run."""
