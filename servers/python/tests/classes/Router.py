import numpy as np


class Router:
    """Epsilon-greedy-shaped ROUTER: route by the first value, learn from feedback (routing + reward)."""

    def __init__(self, n_branches=2, epsilon=0.0, label="r", verbose=False):
        self.n = n_branches
        self.epsilon = epsilon
        self.label = label
        self.verbose = verbose
        self.success = np.zeros(n_branches)

    def route(self, features, feature_names):
        if isinstance(features, np.ndarray) and features.size and features.ravel()[0] < 0:
            return "not an int"
        return int(np.argmax(self.success))

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        if routing is not None:
            self.success[int(routing)] += reward
        return None

    def tags(self):
        return {"label": self.label, "types": [type(self.n).__name__, type(self.epsilon).__name__, type(self.verbose).__name__]}
