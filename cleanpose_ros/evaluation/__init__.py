"""Dataset evaluation: the predictions file (predictions.py) and the predict -> file -> metrics
path shared by cleanpose-evaluate and the rosbag replay tool (runner.py)."""
