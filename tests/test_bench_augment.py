"""The augmentation benchmark: its peer is the SimCLR augmentation, its record is consistent."""

import pytest
import torch
from torchvision.transforms import v2

from benchmarks import bench_augment
from benchmarks.__main__ import BENCHMARKS
from toposhape.contrastive import simclr_augment


@pytest.mark.parametrize("channels", [1, 3])
def test_the_peer_has_the_settings_of_simclr_augment(channels: int) -> None:
    peer = bench_augment.per_image_augment(16, channels).transforms
    ours = list(simclr_augment(16, channels).children())
    crop, jitter = ours[0]._param_generator, ours[1]._param_generator
    assert isinstance(peer[0], v2.RandomResizedCrop) and peer[0].size == (16, 16)
    assert (peer[0].scale, peer[0].ratio) == (crop.scale, crop.ratio)
    assert peer[1].p == ours[1].p == 0.8
    (peer_jitter,) = peer[1].transforms
    for name in ("brightness", "contrast", "saturation"):
        width = getattr(jitter, name)
        want = None if width == 0 else (1 - width, 1 + width)
        assert getattr(peer_jitter, name) == pytest.approx(want), name
    assert peer_jitter.hue == (None if jitter.hue == 0 else pytest.approx((-0.1, 0.1)))
    if channels == 1:
        assert len(peer) == len(ours) == 2
    else:
        assert isinstance(peer[2], v2.RandomGrayscale) and peer[2].p == ours[2].p == 0.2


def test_the_peer_draws_per_image_from_the_generator() -> None:
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(0)).expand(6, -1, -1, -1)
    peer = bench_augment.per_image_augment(12, 3)
    out = bench_augment.augment_per_image(x, peer, torch.Generator().manual_seed(1))
    assert out.shape == (6, 3, 12, 12)
    assert len({out[i].numpy().tobytes() for i in range(6)}) == 6  # one draw per image
    again = bench_augment.augment_per_image(x, peer, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_check_outputs_refuses_a_wrong_shape_or_range() -> None:
    x = torch.rand(2, 1, 8, 8)
    bench_augment.check_outputs({"ok": lambda: x}, x)
    with pytest.raises(RuntimeError, match=r"bad returned .* shape \(2, 1, 4, 4\)"):
        bench_augment.check_outputs({"bad": lambda: x[..., :4, :4]}, x)
    with pytest.raises(RuntimeError, match=r"bad returned values in \[.*\], expected \[0, 1\]"):
        bench_augment.check_outputs({"bad": lambda: x + 1}, x)


def test_the_record_at_tiny_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_augment, "BATCH", 4)
    threads = torch.get_num_threads()
    record = bench_augment.bench_device(torch.device("cpu"), repeats=1, budget_s=0.0)
    assert torch.get_num_threads() == threads  # restored
    assert record["threads"] == bench_augment.THREADS == 1
    assert [c["input"] for c in record["cases"]] == [[1, 28, 28], [3, 32, 32]]
    for case in record["cases"]:
        t = case["timings"]
        assert list(t) == [bench_augment.OURS, bench_augment.PEER]
        assert all(m["repeats"] == 3 for m in t.values())  # the minimum of rounds
        ratio = t[bench_augment.PEER]["median_ms"] / t[bench_augment.OURS]["median_ms"]
        assert case["peer_over_ours"] == pytest.approx(ratio, rel=1e-3)  # medians are rounded
    met = all(c["peer_over_ours"] > 1 for c in record["cases"])
    assert record["target"]["met"] is met
    rows = bench_augment.summary(record)
    assert [r[-1] for r in rows] == [c["peer_over_ours"] > 1 for c in record["cases"]]
    assert bench_augment.OURS in bench_augment.table(record)


def test_python_m_benchmarks_runs_it() -> None:
    assert bench_augment.BENCHMARK in BENCHMARKS
    assert bench_augment.BENCHMARK.name == "augment"
