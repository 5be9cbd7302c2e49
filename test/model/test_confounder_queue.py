"""Confounder queue: FIFO semantics, training-only updates, seeded deterministic sampling."""
from __future__ import annotations

import torch

from cleanpose_ros.model.confounder_queue import ConfounderQueue
from cleanpose_ros.model.network import CleanPose, example_inputs


def test_fifo_order_and_length() -> None:
    q = ConfounderQueue(num_categories=2, size=4, num_samples=2, dim=1)
    for v in range(1, 7):  # push 1..6 into category 1
        q.push(torch.tensor([1]), torch.tensor([[float(v)]]))
    assert q.entries[1, :, 0].tolist() == [3.0, 4.0, 5.0, 6.0]  # oldest first, length stays 4
    assert q.count.tolist() == [0, 4] and q.entries[0].abs().sum() == 0
    q.push(torch.tensor([1, 0, 1]), torch.tensor([[7.0], [9.0], [8.0]]))
    assert q.entries[1, :, 0].tolist() == [5.0, 6.0, 7.0, 8.0]
    assert q.entries[0, -1, 0] == 9.0 and q.count.tolist() == [1, 4]


def test_fill_stops_at_capacity() -> None:
    q = ConfounderQueue(num_categories=1, size=3, num_samples=2, dim=1)
    q.fill(torch.zeros(2, dtype=torch.long), torch.tensor([[1.0], [2.0]]))
    q.fill(torch.zeros(2, dtype=torch.long), torch.tensor([[3.0], [4.0]]))
    assert q.entries[0, :, 0].tolist() == [1.0, 2.0, 3.0] and bool(q.is_full().all())


def test_training_samples_are_distinct_filled_entries() -> None:
    q = ConfounderQueue(num_categories=1, size=10, num_samples=4, dim=1)
    q.push(torch.zeros(6, dtype=torch.long), torch.arange(1.0, 7.0).unsqueeze(1))
    s = q.sample(torch.zeros(3, dtype=torch.long), torch.Generator().manual_seed(0))
    assert s.shape == (3, 4, 1)
    for row in s[..., 0].tolist():
        assert len(set(row)) == 4 and all(1.0 <= v <= 6.0 for v in row)  # no empty (zero) entries


def test_inference_seed_fixes_samples() -> None:
    q = ConfounderQueue(num_categories=3, size=80, num_samples=12, dim=2)
    q.set_inference_seed(1)
    a = q.inference_indices.clone()
    q.set_inference_seed(1)
    assert torch.equal(a, q.inference_indices)
    for row in a.tolist():
        assert len(set(row)) == 12 and all(0 <= i < 80 for i in row)  # without replacement
    q.set_inference_seed(2)
    assert not torch.equal(a, q.inference_indices)


def _filled_model(model: CleanPose) -> CleanPose:
    assert model.queue is not None
    g = torch.Generator().manual_seed(3)
    for c in range(model.config.num_categories):
        model.queue.push(torch.full((80,), c), torch.randn(80, model.config.feature_dim, generator=g))
    return model


def test_model_outputs_same_for_same_seed_and_differ_for_other_seed(lite_model: CleanPose) -> None:
    model = _filled_model(lite_model)
    x = example_inputs(model.config, 3)
    module = model.inference_module()
    model.set_inference_seed(5)
    with torch.no_grad():
        a = module(**x)
        b = module(**x)
        model.set_inference_seed(6)
        c = module(**x)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert max(float((p - q).abs().max()) for p, q in zip(a, c)) > 1e-6


def test_queue_not_updated_in_eval_but_updated_in_training(lite_model: CleanPose) -> None:
    model = _filled_model(lite_model)
    assert model.queue is not None
    x = example_inputs(model.config, 2)
    batch = dict(x, gt_rotation=torch.eye(3).repeat(2, 1, 1), gt_translation=x["points"].mean(1),
                 gt_size=torch.full((2, 3), 0.1))
    before = model.queue.entries.clone()
    model.eval()
    with torch.no_grad():
        model.training_step(batch)
        model.inference_module()(**x)
    assert torch.equal(before, model.queue.entries)
    model.train()
    model.training_step(batch)
    changed = (before != model.queue.entries).any(-1)  # (C, N_q)
    cats = set(x["category"].tolist())
    assert set(torch.nonzero(changed.any(1)).flatten().tolist()) == cats
    assert model.queue.count.tolist() == [80] * model.config.num_categories


def test_training_initialises_empty_queue_from_first_instances(lite_model: CleanPose) -> None:
    assert lite_model.queue is not None
    x = example_inputs(lite_model.config, 3)
    x["category"] = torch.tensor([1, 1, 4])
    batch = dict(x, gt_rotation=torch.eye(3).repeat(3, 1, 1), gt_translation=x["points"].mean(1),
                 gt_size=torch.full((3, 3), 0.1))
    lite_model.train()
    lite_model.training_step(batch)
    assert lite_model.queue.count.tolist() == [0, 2, 0, 0, 1, 0]


def test_initialize_queue_stops_once_the_wanted_categories_are_full(lite_model: CleanPose) -> None:
    """A category-subset split never yields the other classes: initialisation must stop as soon as
    the classes it does yield are full instead of reading the whole dataset."""
    assert lite_model.queue is not None
    size = lite_model.queue.size
    per_batch = 8

    def batches():
        for i in range(1000):
            x = example_inputs(lite_model.config, per_batch)
            x["category"] = torch.tensor([2, 5] * (per_batch // 2))
            yield x

    used = lite_model.initialize_queue(batches(), categories=[2, 5])
    assert used == -(-size // (per_batch // 2))  # ceil(size / instances of each class per batch)
    counts = lite_model.queue.count.tolist()
    assert counts[2] == counts[5] == size and counts[0] == counts[1] == counts[3] == counts[4] == 0
    # with every category wanted the same stream runs until the batches are exhausted (or max_batches)
    assert lite_model.initialize_queue(batches(), max_batches=3) == 3
