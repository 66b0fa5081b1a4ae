"""Reward arithmetic on hand-computed examples: RewardConfig, specificity weights, the stuffing cap,
the format and repeat terms, the STOP-aware term, and the ordering a policy that cannot ask yet needs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from langgraph_clarify.episodes import episode_input
from langgraph_clarify.rewards import (
    Background,
    RewardConfig,
    combine,
    count_questions,
    ending_components,
    question_specificity,
    score_turn,
    sentence_weights,
    turn_components,
)
from langgraph_clarify.state import Explicit, Hidden
from langgraph_clarify.tasks import load_bundled


class FixedContrast(Background):
    """A background whose question contrast is set by the test (the real one runs the offline oracle)."""

    def __init__(self, documents: list[str], contrast: float):
        super().__init__(documents, [])
        self.value = contrast

    def contrast(self, question: str, explicit: Explicit, hidden: object) -> float:
        return self.value


DOCS = ["Use a formal tone.", "The tone should be formal.", "Keep it short."]  # df: formal 2, tone 2, keep 1, short 1
EXPLICIT = Explicit(objective="Write about the metabolic pathway")
HIDDEN = [
    Hidden(index=0, text="Formal tone.", region="output"),  # S = 1/3 + 1/3
    Hidden(index=1, text="List the CYP450 enzyme for each drug.", region="procedure"),  # S = 4 (list, cyp450, ...)
    Hidden(index=2, text="The pathway matters.", region="notes"),  # S = 1 (matter); pathway is explicit
    Hidden(index=3, text="Keep it short.", region="output"),  # S = 1/2 + 1/2
]


def w(s: float) -> float:
    return 1 - math.exp(-s / 2)


def test_sentence_weights_by_hand() -> None:
    bg = Background(DOCS, [])
    assert bg.term_weight("formal") == pytest.approx(1 / 3) and bg.term_weight("cyp450") == 1.0
    got = sentence_weights(HIDDEN, EXPLICIT, bg)
    # "list", "cyp450", "enzyme", "drug" are unseen (1 each); "for"/"each"/"the" are stopwords
    assert got == pytest.approx([w(2 / 3), w(4), w(1), w(1)])
    # words of the explicit part earn nothing: a sentence made only of them weighs 0
    assert sentence_weights([Hidden(index=0, text="The metabolic pathway.", region="notes")], EXPLICIT, bg) == [0.0]


def test_information_pays_specific_new_sentences_and_caps_stuffing() -> None:
    bg = FixedContrast(DOCS, contrast=0.2)  # specificity = 0.1 + 0.9 * 0.2 / 0.4 = 0.55
    assert question_specificity("q?", EXPLICIT, HIDDEN, background=bg) == pytest.approx(0.55)
    weights = sentence_weights(HIDDEN, EXPLICIT, bg)
    one = turn_components("Which enzymes?", [1], [], HIDDEN, EXPLICIT, background=bg)
    assert one["information"] == pytest.approx(0.55 * weights[1])
    assert one["evidence"] == one["novelty"] == 1.0 and one["format"] == one["repeat"] == one["late_ask"] == 0.0
    # all four cited: only the max_cited=2 heaviest are credited
    four = turn_components("Tell me everything?", [0, 1, 2, 3], [], HIDDEN, EXPLICIT, background=bg)
    assert four["information"] == pytest.approx(0.55 * (weights[1] + weights[2]))
    three = turn_components("Tell me everything?", [0, 1, 2, 3], [], HIDDEN, EXPLICIT, cfg=RewardConfig(max_cited=3))
    assert three["information"] > 0
    # an earlier turn already cited 1: only the new sentences count
    earlier = score_turn(0, "Which enzymes?", "a", [1], [], 4)
    again = turn_components("What else matters?", [1, 2], [earlier], HIDDEN, EXPLICIT, background=bg)
    assert again["information"] == pytest.approx(0.55 * weights[2]) and again["evidence"] == 1.0
    # a fully generic question (contrast <= 0) is paid the floor
    generic = turn_components("Which enzymes?", [1], [], HIDDEN, EXPLICIT, background=FixedContrast(DOCS, -0.3))
    assert generic["information"] == pytest.approx(0.1 * weights[1])


def test_repeat_format_and_late_ask_terms() -> None:
    bg = FixedContrast(DOCS, contrast=1.0)
    t0 = score_turn(0, "Which enzymes?", "a", [1], [], 4)
    repeat = turn_components("which ENZYMES", [2], [t0], HIDDEN, EXPLICIT, background=bg)
    assert repeat["repeat"] == 1.0 and repeat["information"] == 0.0 and repeat["novelty"] == 0.0
    assert repeat["format"] == 1.0  # no question mark, no request: not a question
    multi = turn_components("Which enzymes? Which drugs?", [2], [t0], HIDDEN, EXPLICIT, background=bg)
    assert multi["format"] == 1.0 and multi["information"] > 0
    # after sentence 1 more than a quarter of the information remains: asking on is not late
    weights = sentence_weights(HIDDEN, EXPLICIT, bg)
    assert (sum(weights) - weights[1]) / sum(weights) > 0.25 and multi["late_ask"] == 0.0
    # once 0, 1, 2 are cited, what remains (sentence 3) is w(1) / total = 0.20 <= 0.25: the next question is late
    t1 = score_turn(1, "What else?", "b", [0, 2], [t0], 4)
    late = turn_components("Anything more?", [3], [t0, t1], HIDDEN, EXPLICIT, background=bg)
    assert weights[3] / sum(weights) == pytest.approx(0.2033, abs=1e-4) and late["late_ask"] == 1.0
    assert combine(late, RewardConfig()) == pytest.approx(late["information"] - 0.1)


def test_stop_term_by_hand() -> None:
    bg = Background(DOCS, [])
    weights = sentence_weights(HIDDEN, EXPLICIT, bg)
    total = sum(weights)
    at_start = ending_components("stop", [], HIDDEN, EXPLICIT, background=bg)
    assert at_start == {"stop": -1.0, "format": 0.0}  # R = 1: fully penalised
    t0 = score_turn(0, "Which enzymes?", "a", [1], [], 4)
    left = (total - weights[1]) / total
    mid = ending_components("stop", [t0], HIDDEN, EXPLICIT, background=bg)
    assert mid["stop"] == pytest.approx(-(left - 0.25) / 0.75)
    t1 = score_turn(1, "What else?", "b", [0, 2, 3], [t0], 4)
    assert ending_components("stop", [t0, t1], HIDDEN, EXPLICIT, background=bg)["stop"] == 1.0  # R = 0
    # R = w3 / total when 3 is still hidden; reward 1 - R / tau when R <= tau
    cfg = RewardConfig(stop_threshold=0.5)
    t1b = score_turn(1, "What else?", "b", [0, 2], [t0], 4)
    r = weights[3] / total
    assert r <= 0.5
    got = ending_components("stop", [t0, t1b], HIDDEN, EXPLICIT, cfg=cfg, background=bg)["stop"]
    assert got == pytest.approx(1 - r / 0.5)
    assert ending_components("invalid", [], HIDDEN, EXPLICIT, background=bg) == {"stop": 0.0, "format": 1.0}
    with pytest.raises(ValueError, match="kind"):
        ending_components("draft", [], HIDDEN, EXPLICIT)  # type: ignore[arg-type]


def test_combine_weights_and_signs() -> None:
    parts = {"information": 0.8, "evidence": 1.0, "novelty": 1.0, "repeat": 1.0, "format": 1.0, "late_ask": 1.0}
    assert combine(parts, RewardConfig()) == pytest.approx(0.8 - 0.5 - 0.5 - 0.1)
    assert combine(parts, RewardConfig.paper()) == 1.0
    cfg = RewardConfig(information=2.0, novelty=0.5, judge=0.3, format_penalty=0.0)
    assert combine({**parts, "judge": 0.5, "stop": -1.0}, cfg) == pytest.approx(1.6 + 0.5 + 0.15 - 0.5 - 0.5 - 0.1)
    with pytest.raises(ValueError, match="unknown reward component 'bonus'"):
        combine({"bonus": 1.0}, RewardConfig())


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("What format should it take?", 1),
        ("What format? And how long should it be?", 2),
        ("What format? what FORMAT", 1),  # the same question twice (a request needs a verb: this has none)
        ("Please share the target audience.", 1),
        ("Tell me about the audience, the tone, the length, the format and the sources.", 5),
        ("What format, length, tone and audience should it have?", 4),  # four generic facets at once
        ("Should the table list the drug, dose, route and CYP450 enzyme?", 1),  # one specific thing
        ("Which one: A, B, C, D or E?", 1),  # alternatives, one answer
        ("What are the measurements, such as temperature, pulse, weight and height?", 1),  # examples
        ("# Postmortem\n\nSummary: the outage lasted 95 minutes.", 0),
        ("", 0),
    ],
)
def test_count_questions(text: str, n: int) -> None:
    assert count_questions(text) == n


def test_reward_config_validation_and_loading(tmp_path: Path) -> None:
    import dataclasses

    assert all(f.metadata.get("help") for f in dataclasses.fields(RewardConfig))
    assert RewardConfig().information == 1.0 and RewardConfig().evidence == 0.0 and RewardConfig().judge == 0.0
    paper = RewardConfig.paper()
    assert (paper.evidence, paper.information, paper.stop, paper.format_penalty) == (1.0, 0.0, 0.0, 0.0)
    assert RewardConfig.from_dict({"evidence": 1, "max_cited": 3}).max_cited == 3
    for bad, message in [
        ({"evidense": 1.0}, "cfg.yaml: unknown reward field 'evidense'"),
        ({"evidence": "high"}, "cfg.yaml: field evidence: expected a finite number"),
        ({"novelty": -0.5}, "cfg.yaml: field novelty: must not be negative"),
        ({"max_cited": 1.5}, "cfg.yaml: field max_cited: expected an integer"),
        ({"max_cited": 0}, "cfg.yaml: field max_cited: must be at least 1"),
        ({"stop_threshold": 1.0}, "cfg.yaml: field stop_threshold"),
        ({"judge": True}, "cfg.yaml: field judge"),
    ]:
        with pytest.raises(ValueError, match=message):
            RewardConfig.from_dict(bad, source="cfg.yaml")
    good = tmp_path / "reward.yaml"
    good.write_text("information: 0.5\nstop: 1.0\n", encoding="utf-8")
    assert RewardConfig.from_yaml(good) == RewardConfig(information=0.5, stop=1.0)
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert RewardConfig.from_yaml(tmp_path / "empty.yaml") == RewardConfig()
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml: expected a mapping"):
        RewardConfig.from_yaml(bad)
    bad.write_text("repeat_penalty: -1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml: field repeat_penalty: must not be negative"):
        RewardConfig.from_yaml(bad)
    with pytest.raises(ValueError, match=r"missing\.yaml: cannot read"):
        RewardConfig.from_yaml(tmp_path / "missing.yaml")


def test_a_generic_question_that_uncovers_something_beats_nothing_a_statement_and_a_draft() -> None:
    """The gradient toward asking, with the real background and oracle scorer."""
    task = load_bundled()[0]
    inp = episode_input(task)
    hidden, explicit = inp["hidden"], inp["explicit"]
    cfg = RewardConfig()
    generic = "What format should it take: paragraphs, bullet points, a table or a template?"
    assert question_specificity(generic, explicit, hidden) < 0.3
    uncovered = combine(turn_components(generic, [6], [], hidden, explicit), cfg)
    nothing = combine(turn_components(generic, [], [], hidden, explicit), cfg)
    statement = combine(turn_components("I will write it now.", [], [], hidden, explicit), cfg)
    draft = combine(ending_components("invalid", [], hidden, explicit), cfg)
    assert uncovered > nothing == 0.0 > statement and nothing > draft
    # a question aimed at one hidden sentence is paid several times the generic one for the same sentence
    aimed = "Do you want the UTC timestamps and the evidence source of each event in the timeline table?"
    assert combine(turn_components(aimed, [6], [], hidden, explicit), cfg) > 3 * uncovered
    # the weights are a function of the task alone: the same with any other tasks around
    assert sentence_weights(hidden, explicit) == sentence_weights(list(hidden), dict(explicit))  # type: ignore[arg-type]
