"""The published SummEval rows printed next to ours: averages over aspects computed right."""
import pandas as pd

from rlhf_eval.evaluation.summeval_published import comparison_markdown, our_averages


def _results():
    rows = []
    for metric, vals in (("rouge2", (0.1, 0.2, 0.3, 0.4)), ("gptscore", (0.5, 0.5, 0.2, 0.2))):
        for aspect, v in zip(("coherence", "consistency", "fluency", "relevance"), vals):
            rows.append(dict(metric=metric, aspect=aspect, level="summary", method="spearman",
                             value=v))
            rows.append(dict(metric=metric, aspect=aspect, level="summary", method="kendall",
                             value=v / 2))
            rows.append(dict(metric=metric, aspect=aspect, level="system", method="spearman",
                             value=0.9))
    return pd.DataFrame(rows)


def test_averages_over_aspects_at_the_summary_level_only():
    avg = our_averages(_results()).set_index("metric")
    assert avg.loc["rouge2", "spearman"] == 0.25 and avg.loc["rouge2", "kendall"] == 0.125
    assert avg.loc["gptscore", "spearman"] == 0.35 and avg.loc["gptscore", "n_aspects"] == 4
    assert list(avg.index) == ["gptscore", "rouge2"]  # ranked by Spearman


def test_markdown_puts_each_metric_next_to_its_published_row():
    md = comparison_markdown(_results())
    assert "| gptscore | 0.350 | 0.175 | GPTScore | 0.417 |" in md
    assert "| rouge2 | 0.250 | 0.125 | ROUGE-2 | 0.21 |" in md
    assert "GPTScore 0.417 > BARTScore 0.385" in md


def test_correlate_summeval_prints_the_published_rows(tmp_path, capsys):
    from rlhf_eval.cli import main

    code = main(["correlate", "--summeval", "--max-inputs", "3", "--max-refs", "1",
                 "--metrics", "rouge", "--levels", "summary", "--methods", "spearman,kendall",
                 "--n-resamples", "20", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0
    assert "## Next to the published SummEval rows" in out
    assert "| rouge2 |" in out and "| ROUGE-2 | 0.21 |" in out
    assert "only the first 1 reference(s)" in out
    assert "Next to the published" in (tmp_path / "o" / "correlations.md").read_text()


def test_max_refs_must_be_positive(tmp_path, capsys):
    from rlhf_eval.cli import main

    code = main(["correlate", "--summeval", "--max-refs", "0", "--metrics", "rouge",
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "max-refs" in capsys.readouterr().err
