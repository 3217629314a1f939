# Shared by the screening scripts: the labeled front photos of an .npz from extract.py.
import csv, os
import numpy as np
SHARED = os.environ.get('HOMELENS_SHARED', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared'))
D = SHARED + '/data/houses_dataset/'
# Houses whose photos are byte-identical form one listing group, so they never straddle folds.
MERGE = {'72': '59', '214': '199', '293': '292', '351': '331'}
COLUMN = {'front': 'is_front', 'style': 'style', 'stories': 'stories'}

def labeled(paths):
    """(rows of `paths` that have hand labels, their house ids, their listing groups, the label rows)."""
    lab = {r['house_id']: r for r in csv.DictReader(open(D + 'labels_train.csv'))}
    idx = [i for i, p in enumerate(paths) if p.split('/')[-1].split('_')[0] in lab]
    hid = [paths[i].split('/')[-1].split('_')[0] for i in idx]
    groups = np.array([int(MERGE.get(h, h)) for h in hid])
    return idx, hid, groups, lab
