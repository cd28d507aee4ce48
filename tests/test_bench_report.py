"""The benchmarks page's report, on the committed ``results/bench`` records."""

import copy
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from toposhape.studies import style
from toposhape.studies.bench import report

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def records() -> dict:
    return report.load_records(REPO / "results" / "bench")


def _pershom(records: dict) -> dict:
    return records["pershom_cpu"]


def test_load_records_reads_every_committed_file(records):
    assert set(records) == {"augment_cpu", "pershom_cpu", "train_step_cpu", "train_step_cuda"}
    assert report.load_records() == records  # the repository's results/bench by default


def test_load_records_without_files_or_with_a_corrupt_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make bench`"):
        report.load_records(tmp_path)
    (tmp_path / "pershom_cpu.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"pershom_cpu\.json is not valid JSON"):
        report.load_records(tmp_path)


def test_persistence_table_has_every_timed_method_and_the_recorded_ratios(records):
    table = report.persistence_table(records)
    cases = _pershom(records)["cases"]
    assert len(table) == sum(len(c["timings"]) + len(c["skipped"]) for c in cases)
    assert "note" not in table  # nothing was skipped on the CPU
    for case in cases:
        rows = table[table["case"] == case["name"]].set_index("method")
        for peer, ratio in case["peer_over_ours"].items():
            assert rows.loc[peer, "other / ours"] == pytest.approx(ratio)
            assert math.isnan(rows.loc[peer, "ours / floor"])
        assert rows.loc[report.OURS, "ours / floor"] == pytest.approx(case["ours_over_floor"])
        assert rows.loc[report.FLOOR, "median ms"] == case["timings"][report.FLOOR]["median_ms"]


def test_a_skipped_peer_gets_a_row_with_its_reason(records):
    changed = copy.deepcopy(records)
    case = _pershom(changed)["cases"][2]
    del case["timings"]["gudhi"], case["peer_over_ours"]["gudhi"]
    case["skipped"] = {"gudhi": "not run: too slow"}
    table = report.persistence_table(changed)
    row = table[(table["case"] == case["name"]) & (table["method"] == "gudhi")]
    assert row["note"].tolist() == ["not run: too slow"]
    assert row["runs"].tolist() == [0] and row["median ms"].isna().all()
    assert (table["note"] == "").sum() == len(table) - 1


def test_persistence_summary_names_the_fastest_peer(records):
    summary = report.persistence_summary(records)
    cases = _pershom(records)["cases"]
    assert summary["case"].tolist() == [c["name"] for c in cases]
    for row, case in zip(summary.itertuples(index=False), cases, strict=True):
        ratios = case["peer_over_ours"]
        assert row[4] == min(ratios, key=ratios.get)
        assert row[5] == pytest.approx(min(ratios.values()))
        assert row[6] == pytest.approx(case["ours_over_floor"])
    assert summary["clouds × points"].tolist() == ["1 × 100", "1 × 500", "1 × 2000", "16 × 100"]


def test_train_step_table_has_one_row_per_device_with_its_target(records):
    table = report.train_step_table(records)
    assert table["device"].tolist() == [
        "cpu (Intel(R) Xeon(R) Processor)",
        "cuda (NVIDIA H200)",
    ]
    for row, stem in zip(
        table.itertuples(index=False), ("train_step_cpu", "train_step_cuda"), strict=True
    ):
        record = records[stem]
        assert row[3] == pytest.approx(record["ratio"])
        met = "met" if record["target"]["met"] else "missed"
        assert row[4] == f"< {record['target']['ratio_below']:g}: {met}"
    assert table["target"].tolist() == ["< 1.3: met", "< 1.3: missed"]


def test_augment_table_shows_each_image_size_of_the_record():
    raw = json.loads((REPO / "results" / "bench" / "augment_cpu.json").read_text())
    table = report.augment_table({"augment_cpu": raw})
    assert table["device"].tolist() == ["cpu (AMD EPYC)"] * 2
    assert table["threads"].tolist() == [raw["threads"]] * 2 == [1, 1]
    assert table["images"].tolist() == ["MNIST-size 1x28x28", "CIFAR-size 3x32x32"]
    assert table["batch"].tolist() == [128, 128]
    for row, case in zip(table.to_dict("records"), raw["cases"], strict=True):
        kornia = case["timings"]["kornia (batched)"]["median_ms"]
        torchvision = case["timings"]["torchvision v2 (per image)"]["median_ms"]
        assert (row["kornia median ms"], row["torchvision median ms"]) == (kornia, torchvision)
        assert row["torchvision / kornia"] == case["peer_over_ours"] > 1
        # the recorded ratio is of the unrounded medians, which the record keeps to 4 decimals
        assert row["torchvision / kornia"] == pytest.approx(torchvision / kornia, rel=1e-4)
    assert table["target"].tolist() == ["> 1: met", "> 1: met"]


def test_augment_table_follows_a_changed_record(records):
    changed = copy.deepcopy(records["augment_cpu"])
    changed["threads"] = 4
    changed["device"] = "cuda:0"
    changed["environment"]["device"]["gpu"] = "Some GPU"
    case = changed["cases"][1]
    case["timings"][report.AUGMENT_OURS]["median_ms"] = 30.0
    case["timings"][report.AUGMENT_PEER]["median_ms"] = 15.0
    case["peer_over_ours"] = 0.5
    table = report.augment_table({**records, "augment_cuda": changed})
    assert table["device"].tolist() == ["cpu (AMD EPYC)"] * 2 + ["cuda:0 (Some GPU)"] * 2
    assert table["threads"].tolist() == [1, 1, 4, 4]
    last = table.iloc[-1]
    assert (last["kornia median ms"], last["torchvision median ms"]) == (30.0, 15.0)
    assert last["torchvision / kornia"] == 0.5 and last["target"] == "> 1: missed"
    assert report.augment_table({"train_step_cpu": records["train_step_cpu"]}).empty


def test_runs_table_and_sources_name_every_file(records):
    runs = report.runs_table(records)
    assert runs["file"].tolist() == [f"{stem}.json" for stem in records]
    dirty = runs["file"][runs["commit"].str.endswith("(dirty)")]
    assert dirty.tolist() == ["train_step_cuda.json"]
    sentence = report.sources(records)
    assert all(f"`{stem}.json`" in sentence for stem in records)
    assert "/work" not in sentence and "/home" not in sentence


def test_findings_follow_the_targets(records):
    found = report.findings(records)
    assert "faster than every peer at every size: **no** (smallest peer / ours ratio 0.95)" in found
    assert "within 3× of the floor everywhere: **no** (largest ours / floor ratio 4.96)" in found
    better = copy.deepcopy(records)
    for case in _pershom(better)["cases"]:
        case["peer_over_ours"] = {k: 2.0 for k in case["peer_over_ours"]}
        case["ours_over_floor"] = 2.5
    found = report.findings(better)
    assert found.count("**yes**") == 2 and "**no**" not in found


def test_tables_are_dataframes(records):
    tables = report.tables(records)
    assert set(tables) == {"persistence_summary", "persistence", "train_step", "augment", "runs"}
    assert all(isinstance(t, pd.DataFrame) and len(t) for t in tables.values())


def test_every_figure_fits_the_page_also_with_two_devices(records):
    for key, fig in report.figures(records).items():
        assert isinstance(fig, Figure)
        style.check_figure(fig, key)
    cuda = copy.deepcopy(_pershom(records))
    cuda["device"] = "cuda"
    two = {**records, "pershom_cuda": cuda}
    fig = report.figures(two)["ratios"]
    style.check_figure(fig, "ratios")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "gudhi, cuda" in labels and "gudhi, cpu" in labels


def test_method_names_match_the_benchmarks():
    pytest.importorskip("gph")
    pytest.importorskip("torch_topological")
    from benchmarks import bench_pershom

    assert (report.OURS, report.FLOOR, report.OURS_CPU) == (
        bench_pershom.OURS,
        bench_pershom.FLOOR,
        bench_pershom.OURS_CPU,
    )


def test_augment_method_names_match_the_benchmark():
    from benchmarks import bench_augment

    assert (report.AUGMENT_OURS, report.AUGMENT_PEER) == (bench_augment.OURS, bench_augment.PEER)


def test_the_notebook_places_every_figure_and_folds_the_long_table(records):
    cells = json.loads((REPO / "book" / "bench.ipynb").read_text())["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    placed = re.findall(r"```\{glue:figure\} (\w+)\n:name: (\S+)\n:alt: \S", markdown)
    assert placed == [(key, f"fig-bench-{key}") for key in report.figures(records)]
    long = [c for c in cells if 'tables["persistence"]' in "".join(c["source"])]
    assert len(long) == 1 and set(long[0]["metadata"]["tags"]) == {"remove-input", "hide-output"}
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all({"remove-input", "remove-cell"} & set(c["metadata"]["tags"]) for c in code)


def test_the_notebook_shows_every_table_once_under_its_section(records):
    cells = json.loads((REPO / "book" / "bench.ipynb").read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells]
    for key in report.tables(records):
        call = re.compile(rf'present\.table\(\s*tables\["{key}"\]')
        shown = [i for i, s in enumerate(sources) if call.search(s)]
        assert len(shown) == 1, key
        assert "remove-cell" not in cells[shown[0]]["metadata"]["tags"], key
    (augment,) = [i for i, s in enumerate(sources) if 'tables["augment"]' in s]
    section = [s for s in sources[:augment] if s.startswith("## ")][-1]
    assert section.startswith("## SimCLR augmentation")
    assert all(word in section for word in ("MSimCLR", "CPU", "twice", "*threads*"))
    # the numbers come from the record, in the table: none typed into the prose
    assert not re.search(r"\d+\.\d|\d\d|×", section)
