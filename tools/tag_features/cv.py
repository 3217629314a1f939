# Nested, listing-grouped 5-fold CV of a class-weighted, standardized logistic
# regression (the shipped head's recipe) on feature variants from extract.py.
# Needs Debian's python3-sklearn. Screening only: the product trains in C++.
#   /usr/bin/python3 cv.py FEATS.npz crop,nat320,crop~crop_flip,crop+l160 [front,style,stories]
import numpy as np, csv, os, sys, warnings
warnings.filterwarnings('ignore')
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.metrics import balanced_accuracy_score, accuracy_score, log_loss
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import labeled
z=np.load(sys.argv[1])
paths=list(z['paths'])
idx, hid, groups, lab = labeled(paths)
def labels(task):
    return np.array([lab[h][{'style':'style','stories':'stories','front':'is_front'}[task]] for h in hid])
def wts(task):
    if task=='front': return np.ones(len(hid))
    c={'style':'style_conf','stories':'stories_conf'}[task]
    return np.array([0.5 if lab[h][c]=='low' else 1.0 for h in hid])
Cs=[0.003,0.01,0.03,0.1]
def fit(X,y,w,C):
    sc=StandardScaler().fit(X)
    m=LogisticRegression(C=C,class_weight='balanced',max_iter=3000).fit(sc.transform(X),y,sample_weight=w)
    return sc,m
def cv(X,y,w,seed=0,nested=True,C=None):
    pred=np.empty(len(y),dtype=y.dtype)
    outer=StratifiedGroupKFold(5,shuffle=True,random_state=seed)
    for tr,te in outer.split(X,y,groups):
        if nested:
            best=None
            inner=StratifiedGroupKFold(3,shuffle=True,random_state=seed+1)
            for c in Cs:
                ll=0
                for itr,ite in inner.split(X[tr],y[tr],groups[tr]):
                    sc,m=fit(X[tr][itr],y[tr][itr],w[tr][itr],c)
                    P=m.predict_proba(sc.transform(X[tr][ite]))
                    # balanced log loss
                    cls=list(m.classes_); yy=y[tr][ite]
                    ll+=np.mean([-np.mean(np.log(np.clip(P[yy==k,cls.index(k)],1e-9,1))) for k in np.unique(yy) if k in cls])
                if best is None or ll<best[0]: best=(ll,c)
            c=best[1]
        else: c=C
        sc,m=fit(X[tr],y[tr],w[tr],c)
        pred[te]=m.predict(sc.transform(X[te]))
    return accuracy_score(y,pred),balanced_accuracy_score(y,pred)
def feat(spec):
    parts=[]
    for s in spec.split('+'):
        if '~' in s:  # average of two
            a,b=s.split('~'); v=(z[a]+z[b])/2
        else: v=z[s]
        parts.append(v[idx])
    return np.concatenate(parts,1)
tasks=sys.argv[3].split(',') if len(sys.argv)>3 else ['front','style','stories']
for spec in sys.argv[2].split(','):
    X=feat(spec)
    res=[]
    for t in tasks:
        a,b=cv(X,labels(t),wts(t))
        res.append('%s %.3f/%.3f'%(t,a,b))
    print(spec, X.shape[1], ' | '.join(res), flush=True)
