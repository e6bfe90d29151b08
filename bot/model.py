"""Intent model learnt from examples: word and character n-grams, a linear classifier, calibrated confidences.

Where bot.matcher weighs words by hand-written rules (synonyms, ignore and cue lists), this model learns
from the example phrases alone, as TF-IDF features and a linear classifier (scikit-learn), trained when the
knowledge loads:

1. Features: word unigrams and bigrams of the text as read by an optional normaliser (for this domain the
   matcher's reading: folded, synonyms, spelling corrected), and character n-grams (2 to 5 letters, inside
   word boundaries, as scikit-learn's `char_wb`) of the folded text as written, so that a misspelling still
   shares most of its pieces with the word. Each block is TF-IDF weighted (sublinear counts) and scaled to
   unit length, as scikit-learn's TfidfVectorizer does (bot.features).
2. Classifier: a linear SVM (LinearSVC, one against the rest) over the intents and, when out-of-scope
   examples are given, one more class for "none of them".
3. Confidence: the classifier's scores turned into probabilities by a softmax whose temperature is fitted on
   cross-validated scores of the training phrases (each phrase scored by a model that did not learn it),
   then the best intent's probability mapped to the share of such answers that were right there (Platt
   scaling on its log-odds). So of answers given at about 90, about 90 % were right on phrases the model had
   not seen. Out-of-scope examples count as wrong answers for every intent, so the chance that a message
   is about none of them lowers every confidence.

4. Together with today's engine (`blend`): the engine's out-of-scope rules decide whether to answer (the
   model refuses too when its best intent is less than VETO likely right), and the mean of the two scores
   picks the topic. On our messages the model alone picks topics better than the engine but rejects
   other subjects poorly ("how much does a liver transplant cost" is a costs question about something
   else, which example phrases cannot teach); the blend keeps the engine's rejection and the model's topics.

Predicting does the sparse dot product itself (a dict per feature block, each word's character n-grams
kept, the weights as a dense float32 matrix) rather than going through scikit-learn's transform and predict,
which cost several times more per message; it needs numpy only. scikit-learn is imported when a model is
trained. A model holds no global state and never changes once trained (but for its cache of words'
n-grams): training may run in a background thread while the previous model keeps answering.

Measured (bench/clinc.py): CLINC150 val 93.2 % in-scope accuracy at 55 % out-of-scope recall (plain TF-IDF +
logistic regression 87.6 %); our messages, see that script's --domain.
"""

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from bot.features import Features
from bot.features import reading as reading  # the tests and benchmarks take it from here
from bot.spelling import fold

NONE = None  # the label of "none of the intents" (out of scope)
# blend(): the model refuses a topic when its best is less likely right than this (0-100), whatever the engine says.
VETO = 30.0


@dataclass(frozen=True)
class Options:
    """How a model is built; the defaults are the ones measured best (bench/clinc.py)."""

    word_ngrams: tuple = (1, 2)  # word n-grams of the normalised text; None: no word block
    char_ngrams: tuple = (2, 5)  # character n-grams within word boundaries; None: no character block
    char_source: str = "folded"  # "folded": characters of the text as written (folded); "normalised": of the normaliser's words
    char_weight: float = 1.0  # the character block's length against the word block's (each is 1 before it)
    classifier: str = "svm"  # "svm" (LinearSVC), "logistic" (LogisticRegression) or "sgd" (SGDClassifier, modified Huber)
    C: float = 1.0  # inverse regularisation of "svm" and "logistic"
    balanced: bool = False  # weigh each class by the inverse of its number of phrases
    none_weight: float = 1.0  # the out-of-scope examples' weight against the intents' phrases
    calibration: str = "platt"  # "platt", "isotonic" or "softmax" (the temperature-scaled probability alone)
    folds: int = 5  # cross-validation folds for the calibration
    threshold: float = 50.0  # default confidence (0-100) an answer needs
    seed: int = 0


@dataclass(frozen=True)
class Prediction:
    """What the model makes of one text. `intent` is None when it would not answer (below the threshold, or none)."""

    intent: str | None
    confidence: float  # 0-100: how likely `candidate` is the right answer
    candidate: str | None  # the best intent, answered or not
    runner_up: str | None = None
    runner_up_confidence: float = 0.0
    outside: float = 0.0  # 0-100: the probability of "none of the intents" (0 without out-of-scope examples)

    @property
    def margin(self):
        return self.confidence - self.runner_up_confidence


@dataclass
class HeldOut:
    """The training texts as the model answered them without having learnt them: fold, class index, probabilities."""

    folds: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray


@dataclass(frozen=True)
class Stats:
    """Facts about one training: sizes, time spent and the memory the model keeps."""

    intents: int
    phrases: int
    out_of_scope: int
    features: int
    train_seconds: float
    calibrate_seconds: float
    weight_bytes: int
    vocabulary_bytes: int


class IntentModel:
    """A trained model: `predict(text)` for the best intent and its calibrated confidence.

    `IntentModel(phrases_by_intent, out_of_scope=(), normalise=None, options=Options())` trains at once;
    `phrases_by_intent` maps each intent id to its example phrases, `out_of_scope` are examples of messages
    about none of them, `normalise` turns a text into the words to learn from (str -> str; default
    bot.spelling.fold: lower case, Devanagari in Latin letters, no apostrophes). Raises ValueError when there is no phrase at all.
    """

    def __init__(self, phrases_by_intent, out_of_scope=(), normalise=None, options=None):
        options = options or Options()
        self.options = options
        self.normalise = normalise or fold
        texts, labels = [], []
        for intent, phrases in phrases_by_intent.items():
            for phrase in phrases:
                texts.append(str(phrase))
                labels.append(intent)
        out_of_scope = [str(text) for text in out_of_scope]
        if not texts:
            raise ValueError("the model needs at least one example phrase")
        self.intents = tuple(dict.fromkeys(labels))
        self.classes = self.intents + ((NONE,) if out_of_scope else ())
        texts += out_of_scope
        labels += [NONE] * len(out_of_scope)
        started = time.perf_counter()
        self._features = Features(options, self.normalise)
        matrix = self._features.fit(texts)
        y = np.array([self.classes.index(label) for label in labels])
        self._weights, self._bias = self._fit_classifier(matrix, y)
        trained = time.perf_counter()
        self._temperature, self._calibrator = 1.0, (1.0, 0.0)
        self._isotonic = None
        self.held_out = None
        if len(self.classes) > 1:
            self._calibrate(matrix, y)
        self._none = self.classes.index(NONE) if NONE in self.classes else None
        vocabulary_bytes = sum(len(f) + 60 for block in self._features.blocks for f in block.vocabulary)
        self.stats = Stats(len(self.intents), len(texts) - len(out_of_scope), len(out_of_scope), matrix.shape[1],
                           round(trained - started, 3), round(time.perf_counter() - trained, 3),
                           self._weights.nbytes, vocabulary_bytes)

    # --- training -------------------------------------------------------------------------------------------

    def _classifier(self, y):
        options = self.options
        weights = None
        counts = np.bincount(y, minlength=len(self.classes)).astype(float)
        if options.balanced or options.none_weight != 1.0:
            weights = {}
            for k in range(len(self.classes)):
                w = len(y) / (len(self.classes) * counts[k]) if options.balanced and counts[k] else 1.0
                if self.classes[k] is NONE:
                    w *= options.none_weight
                weights[k] = w
        if options.classifier == "svm":
            from sklearn.svm import LinearSVC
            return LinearSVC(C=options.C, class_weight=weights, random_state=options.seed)
        if options.classifier == "logistic":
            from sklearn.linear_model import LogisticRegression
            return LogisticRegression(C=options.C, class_weight=weights, max_iter=3000)
        if options.classifier == "sgd":
            from sklearn.linear_model import SGDClassifier
            return SGDClassifier(loss="modified_huber", alpha=1e-5, max_iter=200, tol=1e-4, class_weight=weights,
                                 random_state=options.seed)
        raise ValueError(f"unknown classifier {options.classifier!r}")

    def _fit_classifier(self, matrix, y):
        """(weights: features x classes, float32; bias: classes) of a linear classifier over the classes present."""
        present = np.unique(y)
        weights = np.zeros((matrix.shape[1], len(self.classes)), dtype=np.float32)
        bias = np.full(len(self.classes), -1e3, dtype=np.float64)
        if len(present) == 1:  # one class: it is always the answer, and the calibration says how sure
            bias[present[0]] = 0.0
            return weights, bias
        with warnings.catch_warnings():
            # A knowledge of a few phrases a topic has about as many classes as examples; it is still a classification.
            warnings.simplefilter("ignore", UserWarning)
            model = self._classifier(y).fit(matrix, y)
        coef, intercept = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
        if len(present) == 2:  # a binary classifier gives one score for the second class
            coef = np.vstack([-coef, coef]) / 2
            intercept = np.array([-intercept[0], intercept[0]]) / 2
        weights[:, model.classes_] = coef.T
        bias[model.classes_] = intercept
        return weights, bias

    def _calibrate(self, matrix, y):
        """Fit the softmax temperature and the confidence map on cross-validated scores of the training texts.

        Each training text's cross-validated probabilities stay in `held_out` (with its fold and class), for a
        judge that learns from the model's answers to texts it did not learn from; `forget_held_out` drops them.
        """
        scores = self._cross_scores(matrix, y)
        if scores is None:
            return
        from scipy.optimize import minimize_scalar

        rows = np.arange(len(y))

        def loss(log_t):
            z = scores / math.exp(log_t)
            z -= z.max(axis=1, keepdims=True)
            return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, y]))

        self._temperature = math.exp(minimize_scalar(loss, bounds=(-7.0, 5.0), method="bounded").x)
        probabilities = self._softmax(scores)
        self.held_out = HeldOut(self._folds, y, probabilities)
        intents = np.array([c is not NONE for c in self.classes])
        masked = np.where(intents, probabilities, -1.0)
        best = masked.argmax(axis=1)
        top = probabilities[rows, best]
        right = (best == y).astype(float)
        method = self.options.calibration
        if method == "platt" and 0 < right.sum() < len(right):
            from sklearn.linear_model import LogisticRegression

            platt = LogisticRegression(C=1e4).fit(_logit(top)[:, None], right)
            self._calibrator = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        elif method == "isotonic" and 0 < right.sum() < len(right):
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(top, right)
            self._isotonic = (np.asarray(iso.X_thresholds_, dtype=float), np.asarray(iso.y_thresholds_, dtype=float))
        elif method not in ("platt", "isotonic", "softmax"):
            raise ValueError(f"unknown calibration {method!r}")

    def _cross_scores(self, matrix, y):
        """Each text's scores from a model trained on the other folds; None when there are too few texts."""
        counts = np.bincount(y)
        folds = min(self.options.folds, int(counts[counts > 0].max()))
        if folds < 2:
            return None
        rng = np.random.default_rng(self.options.seed)
        assigned = np.empty(len(y), dtype=int)
        for k in np.unique(y):  # stratified: each class spread evenly over the folds
            members = np.flatnonzero(y == k)
            assigned[rng.permutation(members)] = np.arange(len(members)) % folds
        self._folds = assigned
        scores = np.zeros((len(y), len(self.classes)))
        for part in range(folds):
            held = assigned == part
            weights, bias = self._fit_classifier(matrix[~held], y[~held])
            scores[held] = matrix[held] @ weights + bias
        return scores

    # --- predicting -----------------------------------------------------------------------------------------

    def _softmax(self, scores):
        z = scores / self._temperature
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def _confidence(self, p):
        """The calibrated chance (0-1) that an answer with temperature-scaled probability p is right."""
        if self._isotonic is not None:
            return np.interp(p, *self._isotonic)
        a, b = self._calibrator
        return 1.0 / (1.0 + np.exp(-(a * _logit(p) + b)))

    def blend(self, text, engine_scores, answered=True, veto=VETO, exclude=()):
        """The model together with another matcher (today's engine): measured best on our messages (bench/clinc.py).

        `engine_scores` maps intents to the other matcher's scores (0-100; a None key is ignored) and
        `answered` says whether it would answer at all: its out-of-scope rules decide that. The model may
        still refuse: when its own best intent is less than `veto` likely right. The topic is the one with
        the best mean of the two scores; `confidence` is that mean, `runner_up` the next by it, and
        `outside` the model's probability of none.
        """
        p = self.probabilities(text)
        model = {c: 100.0 * self._confidence_of(float(p[k])) for k, c in enumerate(self.classes)
                 if c is not NONE and c not in exclude}
        outside = round(100.0 * float(p[self._none]), 1) if self._none is not None else 0.0
        if not model:
            return Prediction(None, 0.0, None, outside=outside)
        mixed = {i: (engine_scores.get(i, 0.0) + score) / 2 for i, score in model.items()}
        (best, score), (second, second_score) = _top_two(mixed)
        sure = max(model.values()) >= veto
        return Prediction(best if answered and sure else None, round(score, 1), best, second,
                          round(second_score, 1), outside)

    def confidences(self, text, exclude=()):
        """({intent: calibrated confidence 0-100} for every intent not in `exclude`, probability 0-1 of none of them)."""
        return self.confidences_of(self.probabilities(text), exclude)

    def confidences_of(self, p, exclude=()):
        """`confidences` from the classes' probabilities `p`."""
        calibrated = (100.0 * self._confidence(p)).tolist()  # all classes at once: cheaper than one at a time
        confidence = {c: calibrated[k] for k, c in enumerate(self.classes) if c is not NONE and c not in exclude}
        return confidence, float(p[self._none]) if self._none is not None else 0.0

    def forget_held_out(self):
        """Drop the training texts' held-out answers once a judge has learnt from them (they take memory)."""
        self.held_out = None

    def _confidence_of(self, p):
        """`_confidence` of one probability, without numpy's overhead for a single number."""
        if self._isotonic is not None:
            return float(np.interp(p, *self._isotonic))
        a, b = self._calibrator
        p = min(max(p, 1e-6), 1 - 1e-6)
        z = a * math.log(p / (1 - p)) + b
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def vector(self, text):
        """(columns, values) of the text's features."""
        return self._features.vector(text)

    def probabilities(self, text):
        """The temperature-scaled probability of each class (`classes`, None last when there are out-of-scope examples)."""
        cols, vals = self.vector(text)
        scores = vals @ self._weights[cols] + self._bias if len(cols) else self._bias.copy()
        return self._softmax(scores)

    def scores(self, text):
        """Every intent's calibrated confidence (0-100), best first; None: the probability of none of them."""
        p = self.probabilities(text)
        ranked = [(c, float(100.0 * self._confidence(p[k])) if c is not NONE else float(100.0 * p[k]))
                  for k, c in enumerate(self.classes)]
        return sorted(ranked, key=lambda item: -item[1])

    def predict(self, text, threshold=None, exclude=()):
        """The best intent for the text, its calibrated confidence and the runner-up's; intents in `exclude` are skipped.

        The answer is None when the best intent's confidence is below `threshold` (default: options.threshold)
        or when "none of them" is more likely than it.
        """
        p = self.probabilities(text)
        none_p = float(p[self._none]) if self._none is not None else 0.0
        found = []  # the two likeliest intents not excluded, as (class index, probability)
        for k in np.argsort(-p).tolist():
            intent = self.classes[k]
            if intent is not NONE and intent not in exclude:
                found.append((k, float(p[k])))
                if len(found) == 2:
                    break
        outside = round(100.0 * none_p, 1)
        if not found:
            return Prediction(None, 0.0, None, outside=outside)
        (first, p_first), (second, p_second) = found[0], (found[1] if len(found) > 1 else (None, 0.0))
        confidence = round(100.0 * self._confidence_of(p_first), 1)
        runner_up = self.classes[second] if second is not None else None
        runner_up_confidence = round(100.0 * self._confidence_of(p_second), 1) if second is not None else 0.0
        threshold = self.options.threshold if threshold is None else threshold
        answered = confidence >= threshold and p_first >= none_p
        candidate = self.classes[first]
        return Prediction(candidate if answered else None, confidence, candidate, runner_up, runner_up_confidence, outside)


def _top_two(scores):
    """The two best (key, score) of a dict, best first; (None, 0.0) where there are fewer."""
    ranked = sorted(scores.items(), key=lambda item: -item[1])[:2]
    ranked += [(None, 0.0)] * (2 - len(ranked))
    return ranked[0], ranked[1]


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
