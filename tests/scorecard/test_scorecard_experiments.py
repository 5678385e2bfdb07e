"""Quick scorecard: the engine's error rates on re-randomised users of one simulated world.

The quick mode runs 200 replicates, so a rate carries about ±1.5 pp of binomial noise;
the bounds here are wide on purpose. The full figures (2,000 replicates) are in README.
"""

import pytest

from lab.scorecard import SECTIONS, run_scorecard


@pytest.fixture(scope="module")
def figures():
    return run_scorecard(sections=("experiments",), quick=True, seed=0, progress=False)[
        "experiments"
    ]


def test_false_positive_rate(figures):
    for metric, rate in figures["aa_false_positive_rate"].items():
        assert 0.01 <= rate <= 0.10, metric


def test_peeking(figures):
    peek = figures["peeking_false_positive_rate"]
    assert peek["sequential_daily"] <= 0.10
    # daily fixed-horizon looks inflate the error rate well beyond alpha
    assert peek["fixed_horizon_daily"] > peek["sequential_daily"]
    assert peek["fixed_horizon_daily"] > 0.08


def test_coverage(figures):
    for metric, rate in figures["coverage_95"].items():
        assert 0.85 <= rate <= 0.995, metric
    assert figures["true_effect"]["gmv_absolute"] > 0  # the campaigns do raise spend


def test_cuped_narrows(figures):
    assert figures["cuped"]["ci_width_ratio_mean"] < 1
    assert figures["cuped"]["pre_post_gmv_correlation"] > 0


def test_sections():
    assert "experiments" in SECTIONS
    with pytest.raises(ValueError, match="sections"):
        run_scorecard(sections=("nope",), quick=True, progress=False)
