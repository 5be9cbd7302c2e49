"""NOCS-protocol metrics (pure numpy): pose errors, 3D IoU (legacy and corrected), greedy
matching, average precision and the reset/process/evaluate evaluator. See docs/evaluation.md."""
from .average_precision import average_precision
from .evaluator import EvaluationThresholds, NocsEvaluator
from .frame_record import FrameRecord, srt_and_normalised_size
from .iou3d import IOU_VARIANTS, iou_3d, pairwise_iou_3d
from .matching import match_by_iou, match_by_pose
from .pose_errors import rotation_error_deg, size_error_cm, translation_error_cm, uses_y_symmetry

__all__ = [
    "average_precision", "EvaluationThresholds", "NocsEvaluator", "FrameRecord", "srt_and_normalised_size",
    "IOU_VARIANTS", "iou_3d", "pairwise_iou_3d", "match_by_iou", "match_by_pose", "rotation_error_deg",
    "size_error_cm", "translation_error_cm", "uses_y_symmetry",
]
