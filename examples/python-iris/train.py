"""Trains the quickstart's iris model into model.joblib as Seldon's published iris example (one-vs-rest
liblinear logistic regression on all of iris), with the scikit-learn that requirements.txt pins (1.5.2; e.g.
servers/python/venv.sh's venv). [1,2,3,4] -> [0.000698519453116..., 0.003668039039436..., 0.995633441507447],
the seed's numbers (to 1e-9; images/test-python-image.sh checks them through the built image).
"""
import os

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
model = LogisticRegression(solver="liblinear", multi_class="ovr", random_state=0).fit(X, y)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.joblib")
joblib.dump(model, out)
print(out, model.predict_proba([[1, 2, 3, 4]])[0].tolist())
