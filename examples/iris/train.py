"""Trains the README's example model exactly as Seldon's published iris example: one-vs-rest liblinear logistic
regression on all of iris, dumped with joblib. Run with the fixtures venv: `$(scripts/fixtures-venv.sh)
examples/iris/train.py`. [1,2,3,4] -> [0.000698519453116284, 0.00366803903943576, 0.995633441507448].
"""
import os

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

X, y = load_iris(return_X_y=True)
model = OneVsRestClassifier(LogisticRegression(solver="liblinear")).fit(X, y)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.joblib")
joblib.dump(model, out)
print(out, model.predict_proba([[1, 2, 3, 4]])[0].tolist())
