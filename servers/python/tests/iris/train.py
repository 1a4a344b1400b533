"""Trains the quickstart's iris model into model.joblib (run with the venv of servers/python/venv.sh)."""
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
model = LogisticRegression(solver="liblinear", multi_class="ovr", random_state=0).fit(X, y)
joblib.dump(model, "model.joblib")
