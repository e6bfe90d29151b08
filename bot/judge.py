"""The judge of an answer: how likely it is right, from what the intent model and the matcher's engine make of it."""

import math

import numpy as np


class Judge:
    """How likely an answer is right, from what the model and another matcher make of it.

    A logistic regression over a few numbers about the answer (see `features`), fitted on the answers both
    gave to texts they had not learnt from (each phrase and out-of-scope example left out in turn, by
    folds): its output is a calibrated chance, learnt from examples rather than set by hand. With too few
    examples to learn from, the model's own confidence stands in.
    """

    def __init__(self, rows, right):
        self.weights, self.bias = None, 0.0
        rows, right = np.asarray(rows, dtype=float), np.asarray(right, dtype=float)
        if len(rows) and 0 < right.sum() < len(right):
            from sklearn.linear_model import LogisticRegression

            fitted = LogisticRegression(C=1.0, max_iter=1000).fit(rows, right)
            self.weights, self.bias = [float(w) for w in fitted.coef_[0]], float(fitted.intercept_[0])

    @staticmethod
    def features(confidence, score, outside, top, none):
        """The numbers the judge weighs about one intent: the model's calibrated confidence in it (0-100), the other
        matcher's score (0-100), how foreign the other matcher finds the text (0-100), whether it is that
        matcher's first choice, and the model's probability (0-1) that the text is about none of the intents."""
        c = min(max(confidence / 100.0, 1e-4), 1 - 1e-4)
        return (math.log(c / (1 - c)), score / 100.0, outside / 100.0, float(top), none, (confidence + score) / 200.0)

    def chance(self, features):
        """The chance (0-100) that the answer these features describe is right."""
        if self.weights is None:
            c = features[0]
            return 100.0 / (1.0 + math.exp(-c))
        z = self.bias + sum(w * f for w, f in zip(self.weights, features))
        return 100.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
