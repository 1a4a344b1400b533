"""Trains KServe's quickstart model exactly as KServe's sklearn sample does (docs/samples/v1beta1/sklearn/v1):
`svm.SVC(gamma='scale')` on all of iris, dumped with joblib. KServe's quickstart request
`{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}` -> `{"predictions": [1, 1]}`. Run with the fixtures
venv: `$(scripts/fixtures-venv.sh) examples/sklearn-iris-svm/train.py`.
"""
import os

from joblib import dump
from sklearn import datasets, svm

clf = svm.SVC(gamma="scale")
iris = datasets.load_iris()
X, y = iris.data, iris.target
clf.fit(X, y)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.joblib")
dump(clf, out)
print(out, clf.predict([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]).tolist())
