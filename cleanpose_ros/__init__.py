"""CleanPose category-level 6D pose estimation for ROS 2."""
