import numpy as np


class Basic:
    """numpy in and out, tags, every metric type, class_names."""

    def __init__(self):
        self.calls = 0

    def predict(self, X, features_names, meta=None):
        self.calls += 1
        return np.asarray(X) * 2

    def class_names(self):
        return ["double_a", "double_b"]

    def tags(self):
        return {"model": "basic", "n": 1}

    def metrics(self):
        return [
            {"type": "COUNTER", "key": "basic_calls", "value": 1},
            {"type": "GAUGE", "key": "basic_gauge", "value": self.calls, "tags": {"kind": "g"}},
            {"type": "TIMER", "key": "basic_timer", "value": 20.5},
        ]
