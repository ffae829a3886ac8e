"""Runs and Samples data: PPO log parsing, the frontier, paired views and their rankings."""
import json

import numpy as np
import pandas as pd
import pytest

from rlhf_eval.dashboard import runs as R
from rlhf_eval.dashboard import samples as S
from rlhf_eval.dashboard import source
from rlhf_eval.errors import DataError

from dashboard_helpers import HOSTILE, SUSPECT_CKPT, SUSPECT_RUN, TRUE_A, TRUE_B


def test_read_ppo_metrics_and_fit_on_it(store_dir):
    from rlhf_eval.dashboard.overopt import fit_overoptimization

    frame = R.read_ppo_metrics(store_dir / "ppo-a" / "metrics.jsonl")
    assert list(frame.columns) == ["step", "kl", "proxy", "gold"] and len(frame) == 40
    fit = fit_overoptimization(frame["kl"], frame["gold"], gold_at_init=R.gold_at_init(frame))
    assert fit.a == pytest.approx(TRUE_A, abs=0.05) and fit.b == pytest.approx(TRUE_B, abs=0.05)


def test_read_ppo_metrics_errors_name_file_line_field(tmp_path):
    bad = tmp_path / "metrics.jsonl"
    bad.write_text(json.dumps({"step": 0, "objective/kl": 0.1}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"metrics.jsonl:2: .*invalid JSON"):
        R.read_ppo_metrics(bad)
    bad.write_text(json.dumps({"step": 0, "objective/kl": "high"}) + "\n")
    with pytest.raises(DataError, match=r"metrics.jsonl:1: field 'objective/kl'"):
        R.read_ppo_metrics(bad)


def test_read_ppo_metrics_skips_lines_without_kl_and_keeps_missing_gold(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"step": 2, "objective/kl": 0.5, "objective/scores": 1.0},
        {"step": 1, "eval/loss": 3.0},
        {"step": 1, "objective/kl": 0.1, "objective/scores": 0.5}]) + "\n")
    frame = R.read_ppo_metrics(path)
    assert frame["step"].tolist() == [1, 2] and frame["gold"].isna().all()
    assert frame["proxy"].tolist() == [0.5, 1.0]


def test_proxy_prefers_the_raw_rm_score(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "objective/kl": 0.2, "objective/scores": -0.5,
                                "objective/rm_score": 0.7}) + "\n")
    assert R.read_ppo_metrics(path)["proxy"].tolist() == [0.7]


def test_frontier_is_the_per_checkpoint_mean_of_the_scores(store_path):
    # few resamples: only the means are checked here
    summary = source.read(store_path, "checkpoint_summary", n_resamples=20)
    checkpoints = source.read(store_path, "checkpoints")
    frontier = R.frontier_from_summary(summary, checkpoints)
    scores = source.read(store_path, "scores_frame")
    # independent: mean over samples straight from the scores
    means = scores.groupby(["run", "checkpoint", "metric"])["value"].mean()
    row = frontier[(frontier["run"] == "ppo-b") & (frontier["checkpoint"] == "checkpoint-200")]
    assert row["kl"].item() == pytest.approx(means[("ppo-b", "checkpoint-200", "kl")])
    assert row["proxy"].item() == pytest.approx(means[("ppo-b", "checkpoint-200", "reward")])
    assert row["gold"].item() == pytest.approx(means[("ppo-b", "checkpoint-200", "gold")])
    assert "references" not in set(frontier["checkpoint"])  # no KL: not a policy
    assert set(frontier["run"]) == {"ppo-a", "ppo-b"}


def _scores(rows):
    cols = ["run", "checkpoint", "step", "sample_id", "gen_id", "prompt", "completion",
            "references", "metric", "value", "signature"]
    out = []
    for ck, sid, metric, value in rows:
        out.append(["r", ck, 0 if ck == "base" else 1, sid, f"{ck}-{sid}", f"prompt {sid}",
                    f"{ck} says {sid}", ["ref"], metric, value, f"{metric}|v1"])
    return pd.DataFrame(out, columns=cols)


def _toy():
    rows = []
    # s1: reward up, rouge and gold down -> suspect; s2: everything up; s3: reward down
    for sid, (rw, rg, gd) in {"s1": (2.0, -0.3, -0.2), "s2": (1.0, 0.2, 0.1),
                              "s3": (-1.0, -0.1, -0.4)}.items():
        rows += [("base", sid, "reward", 0.0), ("base", sid, "rougeL", 0.5),
                 ("base", sid, "gold", 0.5), ("ck", sid, "reward", rw),
                 ("ck", sid, "rougeL", 0.5 + rg), ("ck", sid, "gold", 0.5 + gd)]
    return _scores(rows)


def test_paired_view_deltas_match_hand_computation():
    view = S.paired_view(_toy(), baseline="base", checkpoint="ck").set_index("sample_id")
    assert view.loc["s1", "delta:reward"] == pytest.approx(2.0)
    assert view.loc["s3", "delta:gold"] == pytest.approx(-0.4)
    assert view.loc["s2", "completion_ckpt"] == "ck says s2"
    assert S.metrics_of(view.reset_index()) == ["gold", "reward", "rougeL"]


def test_paired_view_uses_one_signature_per_metric():
    df = _toy()
    extra = df[df["metric"] == "reward"].assign(signature="reward|v0", value=100.0)
    view = S.paired_view(pd.concat([df, extra]), baseline="base", checkpoint="ck")
    assert view["ckpt:reward"].max() == 100.0  # "reward|v0" < "reward|v1": the first, only
    assert view["base:reward"].tolist() == [100.0] * 3


def test_rankings():
    view = S.paired_view(_toy(), baseline="base", checkpoint="ck")
    hacking = S.rank_samples(view, "hacking")
    assert hacking["sample_id"].tolist() == ["s1"]
    drop = S.rank_samples(view, "drop", "gold")
    assert drop["sample_id"].tolist() == ["s3", "s1", "s2"]
    rise = S.rank_samples(view, "rise", "reward")
    assert rise["sample_id"].tolist() == ["s1", "s2", "s3"]
    dis = S.rank_samples(view, "disagree", "reward", ["rougeL", "gold"])
    # independent: z = delta / population std, score = min(z_up, -mean(z_down))
    d = {m: view[f"delta:{m}"] / view[f"delta:{m}"].std(ddof=0)
         for m in ("reward", "rougeL", "gold")}
    expect = np.minimum(d["reward"], -(d["rougeL"] + d["gold"]) / 2)
    got = dis.set_index("sample_id")["score"]
    for sid, value in zip(view["sample_id"], expect):
        assert got[sid] == pytest.approx(value)
    assert dis["sample_id"].iloc[0] == "s1"
    with pytest.raises(ValueError, match="unknown ranking mode"):
        S.rank_samples(view, "bogus")


def test_missing_gold_neither_clears_nor_convicts():
    df = _toy()
    # s2 loses its gold (not a lab prompt) and its ROUGE falls: now a suspect on ROUGE alone
    df = df[~((df["sample_id"] == "s2") & (df["metric"] == "gold"))]
    df.loc[(df["sample_id"] == "s2") & (df["checkpoint"] == "ck") & (df["metric"] == "rougeL"),
           "value"] = 0.1
    view = S.paired_view(df, baseline="base", checkpoint="ck")
    assert set(S.rank_samples(view, "hacking")["sample_id"]) == {"s1", "s2"}
    no_quality = view.drop(columns=[c for c in view.columns if c.endswith(("rougeL", "gold"))])
    assert S.rank_samples(no_quality, "hacking").empty


def test_hacking_suspect_in_fixture_store_is_the_hostile_sample(store_path):
    scores = source.read(store_path, "scores_frame", run=SUSPECT_RUN)
    view = S.paired_view(scores, baseline="baseline", checkpoint=SUSPECT_CKPT)
    top = S.rank_samples(view, "hacking").iloc[0]
    assert top["completion_ckpt"] == HOSTILE
