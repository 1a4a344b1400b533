import joblib
import numpy as np


class Model:
    """Seldon's quickstart as a user's own class: loads model.joblib, answers predict_proba.

    The seed's curl sends its one row flat (`{"data": {"ndarray": [1,2,3,4]}}`), which the wrapper hands over
    as a 1-D array; scikit-learn wants rows, so a flat row is read as one row.
    """

    def __init__(self):
        self._model = joblib.load("model.joblib")

    def predict(self, X, features_names=None):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        return self._model.predict_proba(X)
