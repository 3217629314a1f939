# Two more questions for the linear head, on extract.py's `crop` features, grouped 5-fold CV:
#   mlp:   would a small MLP beat it? One hidden layer (64 or 256, ReLU, L2 alpha 1 or 10),
#          classes balanced by oversampling (MLPClassifier takes no class weights). Not
#          nested: the best of the 4 settings is optimistic.
#   curve: would more hand labels lift it? The head's recipe (standardized, class-weighted
#          logistic regression, C=0.01) trained on 25/50/75/100% of each training fold's
#          listings (4 draws each).
#   /usr/bin/python3 levers.py mlp|curve FEATS.npz
import numpy as np, os, sys, warnings
warnings.filterwarnings('ignore')
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.metrics import balanced_accuracy_score, accuracy_score
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import labeled, COLUMN

def cv_predict(X, y, groups, fit, pick=lambda tr: tr):
    """Grouped 5-fold predictions of `fit(X, y) -> model` trained on pick(training rows)."""
    pred = np.empty(len(y), dtype=y.dtype)
    for tr, te in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(X, y, groups):
        sub = pick(tr)
        sc = StandardScaler().fit(X[sub])
        pred[te] = fit(sc.transform(X[sub]), y[sub]).predict(sc.transform(X[te]))
    return accuracy_score(y, pred), balanced_accuracy_score(y, pred)

def oversampled_mlp(hidden, alpha):
    def fit(X, y):
        cls, cnt = np.unique(y, return_counts=True); rng = np.random.default_rng(0)
        rows = np.concatenate([rng.choice(np.flatnonzero(y == k), cnt.max(), replace=True) for k in cls])
        return MLPClassifier((hidden,), alpha=alpha, max_iter=500, random_state=0).fit(X[rows], y[rows])
    return fit

def listing_subset(groups, frac, rng):
    def pick(tr):
        g = np.unique(groups[tr]); keep = set(rng.choice(g, int(round(frac * len(g))), replace=False))
        return np.array([i for i in tr if groups[i] in keep])
    return pick

what, feats = sys.argv[1], sys.argv[2]
z = np.load(feats); paths = list(z['paths'])
idx, hid, groups, lab = labeled(paths)
X = z['crop'][idx]
for task in ['style', 'stories', 'front']:
    y = np.array([lab[h][COLUMN[task]] for h in hid])
    if what == 'mlp':
        for hidden in [64, 256]:
            for alpha in [1.0, 10.0]:
                print(task, 'hidden', hidden, 'alpha', alpha, '%.3f/%.3f' % cv_predict(X, y, groups, oversampled_mlp(hidden, alpha)), flush=True)
    else:
        line = []
        linear = lambda A, b: LogisticRegression(C=0.01, class_weight='balanced', max_iter=3000).fit(A, b)
        for frac in [0.25, 0.5, 0.75, 1.0]:
            r = [cv_predict(X, y, groups, linear, listing_subset(groups, frac, np.random.default_rng(d))) for d in range(4 if frac < 1 else 1)]
            line.append('%d photos: %.3f/%.3f' % (round(frac * 0.8 * len(y)), np.mean([a for a, _ in r]), np.mean([b for _, b in r])))
        print(task, ' | '.join(line), flush=True)
