# How separable is is_front on the front photos? Grouped 5-fold CV probabilities of
# the head's recipe on extract.py features: ROC AUC, balanced accuracy at 0.5 and at
# the best threshold in hindsight (an upper bound on what threshold tuning could give).
#   /usr/bin/python3 front_auc.py FEATS.npz
import numpy as np, csv, os, sys, warnings
warnings.filterwarnings('ignore')
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.metrics import roc_auc_score, balanced_accuracy_score
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import labeled
z=np.load(sys.argv[1]); paths=list(z['paths'])
idx, hid, groups, lab = labeled(paths)
y=np.array([int(lab[h]['is_front']) for h in hid])
for spec in ['crop','nat','nat320']:
  X=z[spec][idx]
  for C in [0.001,0.01,0.1]:
    p=np.zeros(len(y))
    for tr,te in StratifiedGroupKFold(5,shuffle=True,random_state=0).split(X,y,groups):
      sc=StandardScaler().fit(X[tr]); m=LogisticRegression(C=C,class_weight='balanced',max_iter=3000).fit(sc.transform(X[tr]),y[tr])
      p[te]=m.predict_proba(sc.transform(X[te]))[:,1]
    best=max((balanced_accuracy_score(y,p>=t),t) for t in np.linspace(0.05,0.95,19))
    print(spec,C,'auc %.3f'%roc_auc_score(y,p),'bal@0.5 %.3f'%balanced_accuracy_score(y,p>=0.5),'best bal %.3f at %.2f'%best)
