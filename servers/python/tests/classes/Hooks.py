import numpy as np


class Hooks:
    """init_metadata, feature_names, transform_input / transform_output, health_status, send_feedback."""

    def __init__(self):
        self.rewards = []

    def init_metadata(self):
        return {
            "name": "hooks",
            "versions": ["v1"],
            "platform": "custom",
            "inputs": [{"messagetype": "tensor", "schema": {"names": ["a", "b"], "shape": [2]}}],
            "outputs": [{"messagetype": "tensor", "schema": {"shape": [1]}}],
        }

    def feature_names(self):
        return ["fa", "fb"]

    def transform_input(self, X, names, meta=None):
        return np.asarray(X) + 1

    def transform_output(self, X, names, meta=None):
        return np.asarray(X) * 10

    def health_status(self):
        return [[1, 2]]

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        self.rewards.append(reward)
        return [[reward, len(self.rewards)]]
