import joblib


class Model:
    """Seldon's quickstart: the class loads model.joblib and answers predict_proba."""

    def __init__(self):
        self._model = joblib.load("model.joblib")

    def predict(self, X, features_names=None):
        return self._model.predict_proba(X)
