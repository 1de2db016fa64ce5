"""The answer model's inputs and behaviour: question and answer types, features, the
shipped weights, passage re-ranking, and cases where word overlap points to the wrong
sentence."""

from __future__ import annotations

import numpy as np
import pytest

from index.answering import LinearModel, load_models
from index.answering.evidence import EVIDENCE_FEATURES
from index.answering.features import SENTENCE_FEATURES, Candidate
from index.answering.features import sentence_candidates as candidates
from index.answering.lexicons import answer_types, new_subtypes, question_subtypes, question_types
from index.answering.model import rerank_passages, score
from index.answering.nearness import nearness
from index.answering.query_terms import QueryTerms
from index.text import terms
from index.types import Hit, StoredSentence


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Why did a Houston judge throw out Yukos's case?", {"cause"}),
        ("what reasons did paul tucker give for wanting a rate rise", {"cause"}),
        ("How much cocoa does Nigeria want to produce by 2008?", {"number"}),
        ("roughly how many people were evacuated", {"number"}),
        ("Who will be in charge of Yugansk?", {"person"}),
        ("When was Opec due to meet again?", {"date"}),
        ("Where will the studio move to?", {"place"}),
        ("whos in charge at bmw now", {"person"}),  # typed without the apostrophe
        ("wheres the new stadium going", {"place"}),
        ("What did the minister say about the bill?", set()),
    ],
)
def test_question_types(question: str, expected: set[str]) -> None:
    assert question_types(question) == expected


@pytest.mark.parametrize(
    ("sentence", "present", "absent"),
    [
        ("The US trade deficit with China hit $162bn in 2004.", {"number", "date"}, {"cause"}),
        ("Opec will meet again on 16 March.", {"date", "number"}, {"cause"}),
        ("The studio is closing because digital recording hit business.", {"cause"}, set()),
        ("Sergei Bogdanchikov will run the unit.", {"person"}, {"number", "date"}),
        ("it was very slow to heal", set(), {"person", "number", "date", "cause"}),
    ],
)
def test_answer_types(sentence: str, present: set[str], absent: set[str]) -> None:
    found = answer_types(sentence)
    assert present <= found
    assert not absent & found


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What percentage of its $6bn gas venture with Qatar will Shell own?", {"percent"}),
        ("what share said suing song swappers wouldn't help", {"percent"}),
        ("How much was Lenovo's deal to buy IBM's PC business worth?", {"money"}),
        ("how long do u have to be a member to qualify", {"duration"}),
        ("What time did Claxton clock in the 60m hurdles?", {"measure"}),
        ("How many awards did Half-Life 2 win?", set()),
        ("Who directs the film?", set()),
    ],
)
def test_question_subtypes(question: str, expected: set[str]) -> None:
    assert question_subtypes(question) == expected


def test_subtypes_count_only_what_the_question_does_not_hold() -> None:
    question = "What percentage of its $6bn venture will Shell own?"
    asked = question_subtypes(question)
    assert new_subtypes("The group will own 30% of the project.", question, asked) == {"percent"}
    # numbers, but no share: "1.4 billion cubic feet ... from 2011" answers no percentage
    facilities = "New facilities will handle 1.4 billion cubic feet of gas from 2011."
    assert new_subtypes(facilities, question, asked) == set()
    assert new_subtypes("members for at least two years", "how long to qualify", {"duration"})
    assert not new_subtypes("It cost $6bn.", "what did the $6bn deal cost", {"money"})


def _hit(pid: int, text: str, score: float = 1.0, dense: float = 0.5) -> Hit:
    return Hit(pid, f"a{pid}", "Court news", 0, len(text), text, score, dense, 5.0)


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def _query(question: str) -> QueryTerms:
    return QueryTerms(dict.fromkeys(terms(question), 1.0))


def _two_sentence_case(
    question: str, echo: str, answer: str, echo_cos: float, answer_cos: float
) -> list[Candidate]:
    """One passage: the sentence that repeats the question, then the one that answers,
    with the given cosines to the question vector (the first axis)."""
    text = f"{echo} {answer}"
    a_start = len(echo) + 1
    vectors = [
        _unit([echo_cos, (1 - echo_cos**2) ** 0.5, 0.0]),
        _unit([answer_cos, 0.0, (1 - answer_cos**2) ** 0.5]),
    ]
    stored = {
        1: [
            StoredSentence(1, 0, len(echo), 0, vectors[0].astype(np.float16)),
            StoredSentence(1, a_start, len(text), 1, vectors[1].astype(np.float16)),
        ]
    }
    hit = _hit(1, text)
    return candidates(question, _unit([1, 0, 0]), [hit], {"a1": text}, stored, _query(question))


def test_features_line_up_with_the_model() -> None:
    cands = _two_sentence_case("Why did the judge throw out the case?", "A b.", "C d.", 0.5, 0.4)
    assert all(len(c.features) == len(SENTENCE_FEATURES) for c in cands)
    cosine = SENTENCE_FEATURES.index("cosine")
    assert cands[0].features[cosine] == pytest.approx(0.5, abs=1e-3)
    assert cands[1].features[SENTENCE_FEATURES.index("previous_cosine")] == pytest.approx(
        0.5, abs=1e-3
    )
    models = load_models()
    assert models.sentence.features == SENTENCE_FEATURES
    assert models.evidence.features == EVIDENCE_FEATURES


def test_why_question_prefers_the_cause_over_the_sentence_sharing_its_words() -> None:
    question = "Why did the Houston judge throw out Yukos's bankruptcy case?"
    echo = "A Houston judge has thrown out the bankruptcy case brought by Yukos in the US."
    answer = "Judge Letitia Clark said the firm did not have enough of a US presence because its assets were in Russia."
    cands = _two_sentence_case(question, echo, answer, echo_cos=0.62, answer_cos=0.58)
    coverage = SENTENCE_FEATURES.index("coverage")
    assert cands[0].features[coverage] > cands[1].features[coverage]  # overlap says: echo
    best = score(cands, load_models().sentence)[0]
    assert best.start > 0, "the model should lead with the causal sentence"


def test_how_much_question_prefers_the_sentence_with_the_amount() -> None:
    question = "how much did rosneft pay for yugansk in the end"
    echo = "Rosneft's purchase of Yugansk in the end was criticised by Yukos, which said Rosneft would pay."
    answer = "The state-owned firm bought the unit for $9.3bn at an auction in December."
    cands = _two_sentence_case(question, echo, answer, echo_cos=0.60, answer_cos=0.56)
    coverage = SENTENCE_FEATURES.index("coverage")
    assert cands[0].features[coverage] > cands[1].features[coverage]
    best = score(cands, load_models().sentence)[0]
    assert "$9.3bn" in best.hit.text[best.start : best.end]


def test_percentage_question_prefers_the_share_over_the_sentence_with_more_numbers() -> None:
    """Word overlap and "any number" both point to the echo; the question asks for a
    share, which only the answer holds."""
    question = "What percentage of its liquefied natural gas venture with Qatar will Shell own?"
    echo = (
        "Shell's liquefied natural gas venture with Qatar will handle 1.4 billion cubic "
        "feet of gas and 7.8 million tonnes a year from 2011."
    )
    answer = (
        "The UK-Dutch group will own 30% of the project, with Qatar's state firm owning the rest."
    )
    cands = _two_sentence_case(question, echo, answer, echo_cos=0.62, answer_cos=0.58)
    coverage = SENTENCE_FEATURES.index("coverage")
    assert cands[0].features[coverage] > cands[1].features[coverage]
    assert cands[0].features[SENTENCE_FEATURES.index("lacks_subtype")] == 1.0
    assert cands[1].features[SENTENCE_FEATURES.index("fits_subtype")] == 1.0
    best = score(cands, load_models().sentence)[0]
    assert "30%" in best.hit.text[best.start : best.end]


def test_cosine_outweighs_overlap_for_paraphrased_questions() -> None:
    """Same wording on both sides; only the cosine differs: the closer meaning wins."""
    question = "what did the bank say about rates"
    echo = "The bank said rates."
    answer = "Interest costs will stay where they are, the central lender announced."
    cands = _two_sentence_case(question, echo, answer, echo_cos=0.35, answer_cos=0.75)
    assert score(cands, load_models().sentence)[0].start > 0


def _nearness(sentence: str, question: str) -> float:
    return nearness(
        sentence, question, question_types(question), question_subtypes(question), _query(question)
    )


def test_nearness_is_the_question_words_beside_what_it_asks_for() -> None:
    """Both sentences hold a new name and share the question's words; only in the
    answer are the two side by side."""
    question = "Who converted the penalty for Celtic at Clyde?"
    answer = "Alan Thompson converted the penalty."
    far = (
        "Celtic were given a penalty at Clyde after the break, in a game of few chances "
        "on a heavy pitch that ended with the fans applauding Martin O'Neill."
    )
    assert _nearness(answer, question) == pytest.approx(2 / 4)
    assert _nearness(far, question) == 0.0  # O'Neill is 11 words from "Clyde"
    # Overlap alone points the other way.
    q = _query(question)
    assert q.coverage(set(terms(far))) > q.coverage(set(terms(answer)))


def test_a_title_the_question_holds_is_not_part_of_the_name() -> None:
    """News writes the title into the name ("Azeri Foreign Minister Jeyhun Bayramov"):
    the title is the question's words beside the name, not the name itself."""
    question = "who is the Azeri foreign minister?"
    titled = "Azeri Foreign Minister Jeyhun Bayramov said on a call that it is a good time."
    apart = "Azeri President Ilham Aliyev is trying to mend relations, a minister said."
    assert _nearness(titled, question) == pytest.approx(1.0)
    assert _nearness(titled, question) > _nearness(apart, question)
    # A name the question holds in full is no answer to it.
    assert _nearness("Jeyhun Bayramov said so.", "who is Jeyhun Bayramov?") == 0.0


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        # an amount for "how much", and not the question's own year
        ("How much did Rosneft pay for Yugansk in 2004?", "In 2004 Rosneft paid for Yugansk.", 0.0),
        ("How much did Rosneft pay for Yugansk?", "Rosneft paid $9.3bn for Yugansk.", 2 / 3),
        # a cause for "why"
        ("Why did Poland hold up the directive?", "Poland held it up because of software.", 1 / 3),
        # nothing asked for: no instance to be near
        (
            "What did the minister say about the bill?",
            "The minister Jack Straw said the bill.",
            0.0,
        ),
    ],
)
def test_nearness_counts_only_what_the_question_asks_for(
    question: str, sentence: str, expected: float
) -> None:
    assert _nearness(sentence, question) == pytest.approx(expected)


def test_shipped_model_rewards_the_answer_beside_the_question_words() -> None:
    model = load_models().sentence
    row = list(model.mean)
    near = SENTENCE_FEATURES.index("answer_near")
    beside = [*row[:near], row[near] + 0.3, *row[near + 1 :]]
    assert model.scores([beside])[0] > model.scores([row])[0]


def test_rerank_puts_the_passage_with_the_best_sentence_first() -> None:
    hits = [_hit(1, "x"), _hit(2, "y"), _hit(3, "z")]
    scored = [
        Candidate(hits[1], 0, 1, (), 2.0),
        Candidate(hits[0], 0, 1, (), 1.0),
        Candidate(hits[1], 0, 1, (), -1.0),
    ]
    assert [h.passage_id for h in rerank_passages(hits, scored)] == [2, 1, 3]


def test_linear_model_round_trips_and_scores() -> None:
    model = LinearModel(("a", "b"), (1.0, 0.0), (2.0, 1.0), (1.0, -1.0), 0.5)
    assert LinearModel.from_json(model.to_json()) == model
    assert model.scores([(3.0, 1.0), (1.0, 0.0)]) == pytest.approx([0.5, 0.5])
    assert model.scores([]) == []


def test_tuned_cosine_is_the_cosine_to_the_tuned_question_vector() -> None:
    text = "A b. C d."
    stored = {
        1: [
            StoredSentence(1, 0, 4, 0, _unit([1, 0, 0]).astype(np.float16)),
            StoredSentence(1, 5, 9, 1, _unit([0, 1, 0]).astype(np.float16)),
        ]
    }
    args = ("who?", _unit([1, 0, 0]), [_hit(1, text)], {"a1": text}, stored, _query("who"))
    at = SENTENCE_FEATURES.index("tuned_cosine")
    plain = candidates(*args)  # no question encoder (another model): the plain cosine
    assert [c.features[at] for c in plain] == pytest.approx([1.0, 0.0], abs=1e-3)
    tuned = candidates(*args, _unit([0, 1, 0]))
    assert [c.features[at] for c in tuned] == pytest.approx([0.0, 1.0], abs=1e-3)
    cosine = SENTENCE_FEATURES.index("cosine")
    assert [c.features[cosine] for c in tuned] == [c.features[cosine] for c in plain]
    # Like cosine_gap, the gap to the question's best candidate: a pointwise model can't
    # compare one sentence's cosine with the others' otherwise.
    gap = SENTENCE_FEATURES.index("tuned_cosine_gap")
    assert [c.features[gap] for c in tuned] == pytest.approx([-1.0, 0.0], abs=1e-3)
