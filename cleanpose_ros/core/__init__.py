"""ROS-free core: types, config, geometry, preprocessing, pipeline. Never imports rclpy or messages."""
