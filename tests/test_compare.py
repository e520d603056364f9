"""The comparison end to end on a tiny setting: equal compute, scores, figures, dashboard study, CLI."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import optuna
import pytest

from optuna_isnas.cli import main
from optuna_isnas.compare import CompareConfig, CompareError, compare
from optuna_isnas.compare.runner import Job, plan_jobs, run_job, space_for
from optuna_isnas.compare.scoring import AXES, Axis


def cli_main(argv):
    return main(["compare", *argv])


EPSILONS = (0.0, 9.0)
STEPS = 3


def tiny(tmp_path: Path, **overrides) -> CompareConfig:
    settings = dict(
        dataset="digits",
        space_options={"width": 4},
        epsilons=EPSILONS,
        epochs=1,
        max_steps_per_epoch=STEPS,
        batch_size=16,
        train_subset=200,
        val_subset=80,
        seeds=(0,),
        separate_multipliers=(1.0,),
        trace_points=2,
        prob_points=STEPS,
        retrain_epochs=1,
        png=False,
        progress=False,
        out=str(tmp_path / "cmp"),
        # exact equal compute needs a step cost proportional to the generation (the separate
        # searches draw 2 per step); tests/test_search_weights.py counts the default's compute
        train_archs="all",
        sandwich="none",
        weight_gradient="mean",
        # the epsilons, so that each member's trade-off is known (the default family is checked
        # in test_cli_takes_the_isnas_family)
        family="epsilons",
    )
    settings.update(overrides)
    return CompareConfig.build(**settings)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return compare(tiny(tmp_path_factory.mktemp("compare")))


def test_every_method_gets_the_same_counted_compute(result):
    generation = len(EPSILONS) * 2
    per_search = {r.label: r.passes.total for r in result.records}
    assert (
        per_search["isnas@1x-seed0"] == STEPS * generation * 3
    )  # train forward + backward + val forward
    for method in ("nsgaii", "tpe", "random"):
        assert per_search[f"{method}@1x-seed0"] == STEPS * generation * 3
    # each separate search draws lambda = 2 per step: the K of them together cost one IS-NAS search
    assert per_search["separate@1x-seed0-k0"] == per_search["separate@1x-seed0-k1"] == STEPS * 2 * 3
    passes = {v: s[0].passes for v, s in result.scores.items()}
    assert len(set(passes.values())) == 1
    for r in result.records:
        assert r.passes.total == r.passes_from_steps
        assert r.wall_s > 0


def test_returned_sets_are_scored_on_the_whole_validation_split(result):
    isnas = next(r for r in result.records if r.label == "isnas@1x-seed0")
    assert len(isnas.returned) == len(EPSILONS)
    assert [e.eps for e in isnas.returned] == list(EPSILONS)
    separate = result.scores["separate@1x"][0]
    assert len(separate.returned) == len(EPSILONS)
    for seeds in result.scores.values():
        s = seeds[0]
        assert 0.0 <= s.hv_best_k <= s.hv <= result.reference.error
        assert s.hv == pytest.approx(result.reference.hypervolume(s.returned))
        # the last trace point is the returned set itself, at the search's whole compute
        assert s.trace[-1] == (s.passes, pytest.approx(s.hv))
        for e in s.returned:
            assert 0.0 <= e.error <= 1.0 and e.params < result.reference.params
            assert (e.error * 80) == pytest.approx(round(e.error * 80))  # whole images of the 80


def test_reference_point_is_fixed_and_stated(result):
    space = space_for(result.config)
    assert result.reference.error == 1.0
    assert result.reference.params == pytest.approx(1.1 * space.largest_params())
    # the largest child really is the largest: no architecture has more parameters
    fixed, table = space.param_table()
    assert space.largest_params() == fixed + sum(max(v.values()) for v in table.values())
    assert f"{result.reference.params:,.0f}" in result.table


def test_retrained_subset_has_test_scores(result):
    k = result.config.k
    for seeds in result.scores.values():
        s = seeds[0]
        linear, log = (result.reference.family(s.returned, k, axis) for axis in AXES)
        keys = {tuple(sorted(e.architecture.items())) for e in linear + log}
        # exactly the family (union of its two cuts) was retrained, each architecture once
        assert sorted(tuple(sorted(e.architecture.items())) for e in s.retrained) == sorted(keys)
        assert len(linear) <= k and len(log) <= k

        def tested(family, retrained):
            wanted = [e.architecture for e in family]
            return [e for e in retrained if e.architecture in wanted]

        assert s.test_hv == pytest.approx(result.reference.hypervolume(tested(linear, s.retrained)))
        assert s.test_hv_log == pytest.approx(
            result.reference.hypervolume(tested(log, s.retrained), Axis.LOG)
        )
        assert 0.0 < s.test_hv_log <= 1.0 and 0.0 < s.test_hv <= 1.0
    # IS-NAS's family is all it returns, dominated members included
    isnas = result.scores["isnas@1x"][0]
    distinct = {tuple(sorted(e.architecture.items())) for e in isnas.returned}
    assert len(isnas.retrained) == len(distinct)


def test_log_axis_scores_and_their_reference_are_stated(result):
    from optuna_isnas.compare.api import smallest_params

    space = space_for(result.config)
    reference = result.reference
    fixed, table = space.param_table()
    assert reference.smallest == fixed + sum(min(v.values()) for v in table.values())
    assert reference.smallest == smallest_params(space) < reference.params
    for seeds in result.scores.values():
        s = seeds[0]
        family = reference.family(s.returned, result.config.k, Axis.LOG)
        assert s.hv_best_k_log == pytest.approx(reference.hypervolume(family, Axis.LOG))
        assert 0.0 < s.hv_best_k_log <= s.hv_log <= 1.0
        assert all(e.params >= reference.smallest for e in s.returned)
    assert f"log10({reference.smallest:,.0f}) (the smallest child) = 0" in result.table
    assert f"log10({reference.params:,.0f}) = 1" in result.table
    for column in (
        "(a) val HV, linear",
        "(a) val HV, log",
        "(b) test HV, linear",
        "(b) test HV, log",
    ):
        assert column in result.table


def test_table_figures_and_files(result):
    out = Path(result.config.out)
    assert (out / "summary.md").read_text().startswith("# Comparison")
    summary = json.loads((out / "summary.json").read_text())
    assert {row["variant"] for row in summary["rows"]} == {
        "isnas@1x",
        "separate@1x",
        "nsgaii@1x",
        "tpe@1x",
        "random@1x",
    }
    for key in ("pareto", "hypervolume", "probabilities", "expected_params"):
        html = Path(result.figures[key].html)
        assert html.is_file() and html.stat().st_size > 1000
    assert (out / "figures" / "plotly.min.js").is_file()
    isnas = next(r for r in result.records if r.label == "isnas@1x-seed0")
    assert [p.step for p in isnas.probs][-1] == STEPS
    for p in isnas.probs:
        for theta_k in p.theta:
            assert all(abs(sum(row) - 1.0) < 1e-6 for row in theta_k)
    for line in ("IS-NAS", "K separate", "NSGA-II", "TPE", "Random"):
        assert line in result.table


def test_dashboard_study_has_the_figures_and_named_objectives(result):
    pytest.importorskip(
        "optuna_dashboard", reason="optuna-dashboard is not installed (the dashboard extra)"
    )
    from optuna_dashboard._custom_plot_data import get_plotly_graph_objects

    from optuna_isnas.sampler._storage import study_system_attrs
    from optuna_isnas.search.storage import open_storage

    storage = open_storage(result.dashboard["storage"]).storage
    study = optuna.load_study(study_name=result.dashboard["study_name"], storage=storage)
    assert study.metric_names == ["loss", "params"]
    graphs = get_plotly_graph_objects(study_system_attrs(study))
    assert set(graphs) >= {
        "isnas-pareto",
        "isnas-hypervolume",
        "isnas-probabilities",
        "isnas-expected_params",
    }
    assert len(study.trials) == STEPS * len(EPSILONS) * 2


def test_trace_scoring_does_not_change_the_search(tmp_path):
    """Scoring at every step (eval mode, no gradients) leaves the search's trials and result unchanged."""
    job = Job("isnas", 1.0, 0)
    quiet = run_job(
        job, tiny(tmp_path, trace_points=1, prob_points=1, dashboard=False, out=str(tmp_path / "a"))
    )
    traced = run_job(
        job, tiny(tmp_path, trace_points=STEPS, dashboard=False, out=str(tmp_path / "b"))
    )
    assert len(traced.trace) == STEPS and len(quiet.trace) == 1
    assert quiet.returned == traced.returned
    assert quiet.passes.total == traced.passes.total


def test_plan_and_budgets(tmp_path):
    config = tiny(
        tmp_path,
        epochs=2,
        isnas_multipliers=(1.0, 0.5),
        separate_multipliers=(1.0, 2.0),
        seeds=(0, 1),
    )
    jobs = plan_jobs(config)
    assert sum(j.method == "separate" for j in jobs) == 2 * 2 * len(EPSILONS)
    assert {j.variant for j in jobs} == {
        "isnas@1x",
        "isnas@0.5x",
        "separate@1x",
        "separate@2x",
        "nsgaii@1x",
        "tpe@1x",
        "random@1x",
    }
    assert config.epochs_for(0.5) == 1 and config.epochs_for(2.0) == 4
    with pytest.raises(CompareError, match="whole number of epochs"):
        tiny(tmp_path, epochs=1, isnas_multipliers=(0.5,)).validate()
    with pytest.raises(CompareError, match="unknown method"):
        tiny(tmp_path, methods=("isnas", "cmaes")).validate()
    with pytest.raises(CompareError, match="retrain_seeds"):
        tiny(tmp_path, retrain_seeds=(3,)).validate()
    with pytest.raises(CompareError, match="unknown IS-NAS family"):
        tiny(tmp_path, family="budgets").validate()
    # score (b) retrains the first three seeds unless told otherwise
    assert tiny(tmp_path, seeds=(0, 1, 2, 3, 4)).chosen_retrain_seeds == (0, 1, 2)
    assert tiny(tmp_path, seeds=(7, 5)).chosen_retrain_seeds == (7, 5)
    assert tiny(tmp_path, seeds=(0, 1, 2, 3), retrain_seeds=(3,)).chosen_retrain_seeds == (3,)


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    assert cli_main(["--methods", "isnas,bogus", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown method") and "nsgaii" in err


def test_cli_runs_a_tiny_comparison(tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli_main(
        [
            "--dataset",
            "digits",
            "--width",
            "4",
            "--epsilons",
            "0,9",
            "--epochs",
            "1",
            "--max-steps-per-epoch",
            "2",
            "--batch-size",
            "16",
            "--train-subset",
            "120",
            "--val-subset",
            "60",
            "--seeds",
            "1",
            "--methods",
            "isnas,separate,random",
            "--separate-budgets",
            "1",
            "--trace-points",
            "1",
            "--retrain-epochs",
            "1",
            "--no-png",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "IS-NAS" in printed and "K separate" in printed and "Random" in printed
    assert (out / "summary.md").is_file() and (out / "figures" / "pareto.html").is_file()


def test_isnas_options_are_checked_and_parsed(tmp_path):
    import argparse

    from optuna_isnas.compare.cli import add_arguments, config_from_args

    with pytest.raises(CompareError, match="may not set"):
        tiny(tmp_path, sampler_options={"epsilons": [1.0]}).validate()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--isnas-option", "init_delta=0.5", "--isnas-option", "loss_scale=1.5", "--seeds", "3"]
    )
    config = config_from_args(args)
    assert config.search.sampler_options == {"init_delta": 0.5, "loss_scale": 1.5}
    assert config.seeds == (0, 1, 2)
    assert config_from_args(parser.parse_args(["--seeds", "4,7"])).seeds == (4, 7)


def test_first_line_of_a_title():
    from _dashboard_harness import first_line

    assert first_line("Hypervolume (digits)<br><sup>mean ± sd</sup>") == "Hypervolume (digits)"
    assert first_line("<b>Bold</b> title") == "Bold title"


def test_resume_reuses_finished_searches_and_retrainings(tmp_path):
    config = tiny(tmp_path, methods=("isnas", "random"), dashboard=False, resume=True)
    first = compare(config)
    runs = sorted((Path(config.out) / "runs").glob("*.json"))
    assert {p.name for p in runs} >= {
        "isnas@1x-seed0.json",
        "random@1x-seed0.json",
        "retrain-isnas@1x-seed0.json",
    }
    stamps = {p: p.stat().st_mtime_ns for p in runs}
    second = compare(config)
    assert {p: p.stat().st_mtime_ns for p in runs} == stamps  # nothing was run again
    assert second.table == first.table
    changed = compare(
        tiny(tmp_path, methods=("isnas", "random"), dashboard=False, resume=True, batch_size=8)
    )
    assert changed.records[0].fingerprint["search"]["batch_size"] == 8  # searched afresh


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_downsampled_to_14x14(tmp_path):
    config = tiny(
        tmp_path,
        dataset="fashion-mnist",
        downsample=14,
        methods=("isnas",),
        retrain_epochs=1,
        dashboard=False,
    )
    result = compare(config)
    assert space_for(config).config()["image_size"] == 14
    s = result.scores["isnas@1x"][0]
    assert len(s.returned) == len(EPSILONS) and s.test_hv is not None


def test_a_record_is_reused_with_the_same_settings_and_refused_in_another_format(tmp_path):
    from optuna_isnas.compare.compute import PassCount
    from optuna_isnas.compare.records import RecordFormatError, SearchRecord
    from optuna_isnas.compare.runner import load_record, record_path

    config = tiny(tmp_path)
    job = Job("isnas", 1.0, 0)
    record = SearchRecord(
        job=job,
        epsilons=list(EPSILONS),
        epochs=1,
        steps=STEPS,
        generation_size=4,
        n_trials=12,
        passes=PassCount(12, 12, 12),
        passes_from_steps=36,
        wall_s=1.0,
        trace_s=0.0,
        returned=[],
        trace=[],
        probs=[],
        variables={},
        study_name="x",
        storage=None,
        threads=1,
        device="cpu",
        fingerprint=config.fingerprint(job),
    )
    path = record_path(config, job)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record.to_json()))
    assert load_record(config, job) == record
    # other settings: the search runs again
    assert load_record(tiny(tmp_path, sampler_options={"init_delta": 0.5}), job) is None
    assert load_record(tiny(tmp_path, epochs=2), job) is None
    path.write_text(json.dumps(record.to_json())[:-10])  # torn by an interrupted run
    assert load_record(config, job) is None

    # another format: one error that names the file and what to do
    older = config.fingerprint(job)
    del older["search"]["sampler_options"]
    for data in (
        {**record.to_json(), "fingerprint": older},
        {**record.to_json(), "fingerprint": {}},
        {k: v for k, v in record.to_json().items() if k != "passes"},
        {**record.to_json(), "a_field_from_elsewhere": 1},
    ):
        path.write_text(json.dumps(data))
        with pytest.raises(RecordFormatError, match="not a comparison record") as e:
            load_record(config, job)
        assert str(path) in str(e.value) and "Delete it" in str(e.value)


def test_a_retraining_record_without_its_key_is_refused(tmp_path):
    from optuna_isnas.compare.records import RecordFormatError, RetrainRecord, read_record

    path = tmp_path / "retrain-isnas@1x-seed0.json"
    record = RetrainRecord("isnas@1x", 0, [], {"epochs": 1})
    path.write_text(json.dumps(record.to_json()))
    assert read_record(path, RetrainRecord.from_json) == record
    assert read_record(tmp_path / "absent.json", RetrainRecord.from_json) is None
    path.write_text(json.dumps({k: v for k, v in record.to_json().items() if k != "key"}))
    with pytest.raises(RecordFormatError, match=r"KeyError: 'key'"):
        read_record(path, RetrainRecord.from_json)


def test_records_round_trip_through_json(result):
    from optuna_isnas.compare.records import SearchRecord

    for record in result.records:
        again = SearchRecord.from_json(json.loads(json.dumps(record.to_json())))
        assert again == record
    on_disk = json.loads((Path(result.config.out) / "runs" / "isnas@1x-seed0.json").read_text())
    assert SearchRecord.from_json(on_disk) == next(
        r for r in result.records if r.label == "isnas@1x-seed0"
    )


def test_fingerprint_is_the_job_searchs_result_settings(tmp_path):
    import dataclasses

    config = tiny(tmp_path)
    for job in plan_jobs(config):
        settings = config.job_config(job)
        assert config.fingerprint(job)["search"] == settings.result_settings()
        assert settings.seed == job.seed and settings.epochs == config.epochs_for(job.multiplier)
    job = Job("isnas", 1.0, 0)
    base = config.fingerprint(job)
    # any setting that changes a search's result changes the fingerprint; where things go does not
    for change in (dict(batch_size=8), dict(lr=0.2), dict(sampler_options={"init_delta": 0.5})):
        assert tiny(tmp_path, **change).fingerprint(job) != base, change
    moved = dataclasses.replace(config, search=dataclasses.replace(config.search, data_root=None))
    assert moved.fingerprint(job) == base


def test_jobs_vary_the_one_search_config(tmp_path):
    config = tiny(tmp_path, sampler_options={"init_delta": 0.5}, lr=0.05)
    separate = config.job_config(Job("separate", 1.0, 3, k=1))
    assert separate.epsilons == (EPSILONS[1],) and separate.sampler == "isnas"
    assert separate.sampler_options == {"init_delta": 0.5} and separate.recipe.lr == 0.05
    baseline = config.job_config(Job("tpe", 1.0, 3))
    assert baseline.sampler == "tpe" and baseline.sampler_options == {}
    assert baseline.epsilons == EPSILONS  # K * lambda trials per step
    assert baseline.space_options == {"width": 4} and baseline.seed == 3


def test_variant_ids_parse():
    from optuna_isnas.compare.records import Variant

    assert Variant.parse("separate@0.5x") == Variant("separate", 0.5)
    assert Variant.parse(Variant("isnas", 2.0).key).multiplier == 2.0
    with pytest.raises(ValueError, match="not a variant"):
        Variant.parse("isnas-1x")


@pytest.mark.slow
def test_cli_in_worker_processes_prints_each_pair_once_and_leaks_nothing(tmp_path):
    """A real `optuna-isnas compare` with two worker processes: one line per compared pair, and
    no leaked-semaphore warning at exit (the pool's workers are joined, not terminated)."""
    import os
    import subprocess
    import sys

    argv = ["--dataset", "digits", "--width", "4", "--epsilons", "0,9", "--epochs", "1"]
    argv += ["--max-steps-per-epoch", "2", "--batch-size", "16", "--train-subset", "120"]
    argv += ["--val-subset", "60", "--seeds", "1", "--methods", "isnas,separate,random"]
    argv += ["--separate-budgets", "1", "--trace-points", "1", "--no-png", "--no-dashboard"]
    argv += ["--workers", "2", "--out", str(tmp_path / "cmp")]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from optuna_isnas.cli import main; sys.exit(main())",
            "compare",
            *argv,
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    pairs = [line for line in done.stdout.splitlines() if line.startswith("| ") and " vs " in line]
    assert len(pairs) == 2  # IS-NAS vs K separate, IS-NAS vs random
    assert len({p.split("|")[1] for p in pairs}) == 2
    assert "leaked semaphore" not in done.stderr and "Warning" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_resume_with_every_search_finished_runs_no_pool(tmp_path):
    from optuna_isnas.compare.parallel import run_jobs

    config = tiny(tmp_path, workers=2)
    assert run_jobs(config, [], print, [], "search") == []


# ------------------------------------------------------------ IS-NAS with size classes, 2 seeds
@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    out = tmp_path_factory.mktemp("sized") / "cmp"
    config = tiny(
        Path(out),
        family="size-classes",
        methods=("isnas", "separate", "random"),
        seeds=(0, 1),
        dashboard=False,
        out=str(out),
    )
    return compare(config)


def test_size_classes_run_isnas_with_its_default_family_and_leave_separate_alone(sized):
    config = sized.config
    isnas = config.job_config(Job("isnas", 1.0, 0))
    assert isnas.epsilons is None and isnas.budgets is None
    assert isnas.num_distributions == len(EPSILONS)
    separate = config.job_config(Job("separate", 1.0, 0, k=1))
    assert separate.epsilons == (EPSILONS[1],) and separate.num_distributions is None
    records = {r.label: r for r in sized.records}
    assert records["isnas@1x-seed0"].epsilons is None
    assert records["separate@1x-seed0-k1"].epsilons == [EPSILONS[1]]
    returned = records["isnas@1x-seed0"].returned
    assert len(returned) == len(EPSILONS) and all(e.eps is None for e in returned)
    # the same compute as the epsilon family: K * lambda architectures per step
    assert records["isnas@1x-seed0"].passes.total == STEPS * len(EPSILONS) * 2 * 3
    assert "K size classes" in sized.table
    # another family is another search: a resumed comparison does not reuse it
    eps_config = tiny(Path(config.out), family="epsilons")
    assert eps_config.fingerprint(Job("isnas", 1.0, 0)) != config.fingerprint(Job("isnas", 1.0, 0))
    assert eps_config.fingerprint(Job("separate", 1.0, 0, k=0)) == config.fingerprint(
        Job("separate", 1.0, 0, k=0)
    )


def test_score_b_over_the_retrained_seeds_with_paired_differences(sized):
    for variant, seeds in sized.scores.items():
        assert [s.seed for s in seeds] == [0, 1]
        assert all(s.test_hv is not None and s.test_hv_log is not None for s in seeds), variant
    row = next(r for r in sized.rows if r.variant == "isnas@1x")
    tests = [s.test_hv for s in sized.scores["isnas@1x"]]
    assert row.test_seeds == [0, 1]
    assert row.test_hv == pytest.approx((statistics.fmean(tests), statistics.stdev(tests)))
    pair = next(c for c in sized.comparisons if c.second == "random@1x" and c.key == "test_hv_log")
    diffs = [
        a.test_hv_log - b.test_hv_log
        for a, b in zip(sized.scores["isnas@1x"], sized.scores["random@1x"], strict=True)
    ]
    assert pair.seeds == [0, 1] and pair.mean == pytest.approx(statistics.fmean(diffs))
    assert pair.wins == sum(d > 0 for d in diffs)
    line = next(line for line in sized.table.splitlines() if "vs Random" in line)
    assert f"{pair.mean:+.4f} ± {pair.sd:.4f} ({pair.wins}/2)" in line
    assert "retrained from scratch, on the test split (seeds 0,1)" in sized.table


def test_paired_differences_use_only_seeds_where_both_have_the_score():
    from optuna_isnas.compare.scoring import SeedScore, paired_differences

    def score(variant, seed, hv, test):
        return SeedScore(variant, seed, [], 100, 1.0, hv, hv, test_hv=test)

    scores = {
        "isnas@1x": [score("isnas@1x", 0, 0.5, 0.4), score("isnas@1x", 1, 0.6, None)],
        "tpe@1x": [score("tpe@1x", 0, 0.4, 0.5), score("tpe@1x", 1, 0.5, None)],
    }
    test = paired_differences(scores, "isnas@1x", "tpe@1x", "test_hv")
    assert test is not None and test.seeds == [0] and test.mean == pytest.approx(-0.1)
    assert test.wins == 0
    val = paired_differences(scores, "isnas@1x", "tpe@1x", "hv")
    assert val is not None and val.seeds == [0, 1] and val.wins == 2
    assert paired_differences(scores, "isnas@1x", "tpe@1x", "test_hv_log") is None


def test_cli_takes_the_isnas_family(tmp_path):
    import argparse

    from optuna_isnas.compare.cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args([])).family == "hypervolume"  # the search's default
    config = config_from_args(parser.parse_args(["--family", "epsilons"]))
    assert config.job_config(Job("isnas", 1.0, 0)).family == "hypervolume"  # unused with epsilons
    assert config.job_config(Job("isnas", 1.0, 0)).epsilons == config.epsilons
    config = config_from_args(parser.parse_args(["--family", "size-classes", "--seeds", "5"]))
    assert config.family == "size-classes" and config.chosen_retrain_seeds == (0, 1, 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--family", "budgets"])


def test_score_b_retrains_each_axis_cut_of_a_large_returned_set():
    from optuna_isnas.compare.records import Scored
    from optuna_isnas.compare.retraining import to_retrain
    from optuna_isnas.compare.scoring import Reference

    reference = Reference(error=1.0, params=1e5, smallest=10.0)
    big = [Scored({"a": "big1"}, 60_000, 0.02), Scored({"a": "big2"}, 20_000, 0.08)]
    small = Scored({"a": "small"}, 20, 0.95)
    # the linear cut keeps both big models, the log cut the small one: all three are retrained
    names = [e.architecture["a"] for e in to_retrain([*big, small], reference, 2)]
    assert sorted(names) == ["big1", "big2", "small"]
    # a set of at most k distinct architectures is retrained whole, once each
    assert to_retrain([big[0], small, big[0]], reference, 2) == [big[0], small]
