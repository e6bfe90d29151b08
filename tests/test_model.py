"""The learnt intent model (bot/model.py): what someone wiring it into the matcher would notice."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.model import IntentModel, Options, Prediction, reading
from bot.reader import Reader

PHRASES = {
    "costs": [
        "how much does the treatment cost", "what is the price of the therapy", "is it expensive",
        "how much money will we need", "what are the charges for one cycle", "total cost of the course",
        "price kitna hai", "how much do we have to pay", "what does one dose cost", "is the therapy costly",
    ],
    "nutrition": [
        "what should he eat during treatment", "which foods to avoid", "can she drink milk",
        "is a special diet needed", "what to eat when nauseous", "kya khana chahiye",
        "can he have fruit and vegetables", "how much water should she drink", "is spicy food allowed",
        "best diet during therapy",
    ],
    "greeting": ["hi", "hello", "hey there", "good morning", "namaste", "hello anyone there", "hii", "good evening"],
}
OUT_OF_SCOPE = [
    "what is the weather today", "will it rain tomorrow", "cricket score please", "who won the match",
    "book a train ticket", "tell me a joke", "what is the capital of france", "play some music",
    "how do i fix my phone", "recommend a movie", "what time is it in london", "order a pizza",
]


@pytest.fixture(scope="module")
def model():
    return IntentModel(PHRASES, OUT_OF_SCOPE)


def test_answers_a_paraphrase_of_its_phrases(model):
    assert model.predict("How much will the therapy cost us?").intent == "costs"
    assert model.predict("what foods should he avoid eating").intent == "nutrition"
    assert model.predict("helo good morning").intent == "greeting"


def test_reads_typos_through_character_ngrams(model):
    assert model.predict("wat is the prise of therapy").candidate == "costs"


def test_rejects_an_out_of_scope_message(model):
    found = model.predict("who won the cricket match yesterday")
    assert found.intent is None
    assert found.outside > 0


def test_confidences_are_within_0_100_and_ordered(model):
    # The last: words whose letters no phrase has.
    for text in ["how much does it cost", "hello", "weather", "", "?!", "zzzz qqqq", "बुखार में क्या खाएं", "ما هي"]:
        found = model.predict(text)
        assert isinstance(found, Prediction)
        assert 0.0 <= found.runner_up_confidence <= found.confidence <= 100.0
        assert 0.0 <= found.outside <= 100.0
        assert found.margin >= 0
        ranked = model.scores(text)
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
        assert {i for i, _ in ranked} == {"costs", "nutrition", "greeting", None}
        assert all(0.0 <= s <= 100.0 for _, s in ranked)


def test_a_clear_question_is_more_confident_than_a_vague_one(model):
    assert model.predict("what is the price of the therapy, how much will it cost").confidence > \
        model.predict("what about it").confidence


def test_threshold_decides_whether_to_answer(model):
    found = model.predict("how much does the treatment cost")
    assert model.predict("how much does the treatment cost", threshold=found.confidence).intent == "costs"
    never = model.predict("how much does the treatment cost", threshold=100.1)
    assert never.intent is None and never.candidate == "costs"


def test_excluded_intents_are_never_answered(model):
    found = model.predict("how much does the treatment cost", exclude=("costs",))
    assert found.candidate != "costs" and found.runner_up != "costs"


def test_one_intent_still_works():
    alone = IntentModel({"greeting": PHRASES["greeting"]})
    found = alone.predict("hello")
    assert found.candidate == "greeting" and found.runner_up is None
    assert 0.0 <= found.confidence <= 100.0
    with_outside = IntentModel({"greeting": PHRASES["greeting"]}, OUT_OF_SCOPE)
    assert with_outside.predict("hello there").intent == "greeting"
    assert with_outside.predict("what is the weather today in delhi").intent is None


def test_no_out_of_scope_examples_still_works():
    plain = IntentModel(PHRASES)
    found = plain.predict("how much does the treatment cost")
    assert found.intent == "costs" and found.outside == 0.0
    assert None not in dict(plain.scores("hello"))


def test_one_phrase_per_intent_still_works():
    tiny = IntentModel({"costs": ["how much does it cost"], "greeting": ["hello"]})
    assert tiny.predict("how much is the cost").candidate == "costs"


def test_needs_a_phrase():
    with pytest.raises(ValueError):
        IntentModel({})


def test_other_classifiers_and_calibrations():
    for options in (Options(classifier="logistic", C=10.0), Options(classifier="sgd"),
                    Options(calibration="isotonic"), Options(calibration="softmax"), Options(char_ngrams=None),
                    Options(word_ngrams=None), Options(balanced=True, none_weight=2.0)):
        other = IntentModel(PHRASES, OUT_OF_SCOPE, options=options)
        assert other.predict("how much will the therapy cost us").candidate == "costs", options


def test_a_reader_as_normaliser():
    texts = [p for phrases in PHRASES.values() for p in phrases]
    reader = Reader({"price": ["cost", "charges", "kharcha"]}, ("the", "a", "is"), texts)
    read = IntentModel(PHRASES, OUT_OF_SCOPE, reading(reader))
    assert read.predict("what will the kharcha be").candidate == "costs"
    assert read.predict("how much does the treatmnt cost").intent == "costs"


def test_stats_describe_the_training(model):
    stats = model.stats
    assert (stats.intents, stats.phrases, stats.out_of_scope) == (3, 28, 12)
    assert stats.features > 0 and stats.weight_bytes > 0 and stats.train_seconds >= 0


def test_training_in_a_thread_while_another_model_answers(model):
    with ThreadPoolExecutor(max_workers=1) as pool:
        training = pool.submit(IntentModel, PHRASES, OUT_OF_SCOPE)
        while not training.done():
            assert model.predict("how much does the treatment cost").intent == "costs"
        built = training.result()
    assert built.predict("how much does the treatment cost") == model.predict("how much does the treatment cost")


def test_predict_and_scores_agree(model):
    text = "how much does the treatment cost"
    found, ranked = model.predict(text), dict(model.scores(text))
    assert found.confidence == pytest.approx(ranked[found.candidate], abs=0.06)
    assert found.runner_up_confidence == pytest.approx(ranked[found.runner_up], abs=0.06)


def test_blend_with_another_matcher(model):
    text = "how much does the treatment cost"
    both = model.blend(text, {"costs": 90.0, "nutrition": 10.0, None: 5.0})
    assert both.intent == "costs" and 0 <= both.runner_up_confidence <= both.confidence <= 100
    # The other matcher decides whether to answer; the mean of both scores decides which topic.
    assert model.blend(text, {"costs": 90.0}, answered=False).intent is None
    assert model.blend(text, {"nutrition": 60.0, "costs": 40.0}).candidate == "costs"
    # The model refuses when it is unsure of every topic, whatever the other matcher says.
    assert model.blend("what is the weather today", {"nutrition": 100.0}, veto=99.9).intent is None
    assert model.blend(text, {}, exclude=("costs",)).candidate != "costs"
