# Would fine-tuning the last blocks of MobileNetV2 lift the tag heads? A screening
# prototype in PyTorch (Debian's python3-torch, python3-onnx, python3-opencv,
# python3-sklearn), not the product: the network is rebuilt from the shared ONNX file
# (trainable copies of its convolutions), the activations before block CUT are cached for
# the labeled front photos (the HomeLens centre crop plus NAUG random crops/flips), and
# the blocks after CUT are trained together with linear front/style/stories heads in
# 5-fold CV grouped by listing. --lr-tail 0 keeps the network frozen (the baseline).
#   /usr/bin/python3 finetune.py extract 426 8 /tmp/c426.npz      # ~2 min on 2 cores
#   /usr/bin/python3 finetune.py cv /tmp/c426.npz --lr-tail 1e-4 --tta   # ~7 min
import argparse, csv, os, sys, time
import numpy as np, onnx, torch, torch.nn as nn, torch.nn.functional as F
from onnx import numpy_helper
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import SHARED, D, labeled, COLUMN
MODEL = SHARED + '/models/mobilenetv2-torchvision-imagenet/mobilenetv2_fp32.onnx'
CUTS = {'426': '426_quantized_f', '443': '443_quantized_f', '452': '452_quantized_f'}  # before blocks 14, 16, 17

class OnnxTail(nn.Module):
    """Runs the ONNX graph from tensor `start` to `end` with its convolutions as parameters."""
    def __init__(self, start, end='embedding'):
        super().__init__()
        g = onnx.load(MODEL).graph
        init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.ops, self.params, have = [], nn.ParameterDict(), {start}
        for n in g.node:
            if not all(i in have or i in init for i in n.input):
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.op_type == 'Conv':
                for name in n.input[1:]:
                    self.params[name] = nn.Parameter(torch.tensor(init[name]))
            self.ops.append((n.op_type, list(n.input), n.output[0], attrs))
            have.add(n.output[0])
            if n.output[0] == end:
                break
        self.start = start

    def forward(self, x):
        env = {self.start: x}
        for op, ins, out, a in self.ops:
            if op == 'Conv':
                env[out] = F.conv2d(env[ins[0]], self.params[ins[1]], self.params[ins[2]], stride=a['strides'],
                                    padding=tuple(a['pads'][:2]), groups=a.get('group', 1))
            elif op == 'Clip':
                env[out] = torch.clamp(env[ins[0]], a['min'], a['max'])
            elif op == 'Add':
                env[out] = env[ins[0]] + env[ins[1]]
            elif op == 'GlobalAveragePool':
                env[out] = env[ins[0]].mean((2, 3), keepdim=True)
            elif op == 'Flatten':
                env[out] = env[ins[0]].flatten(1)
            else:
                raise RuntimeError('unsupported op ' + op)
        return env[out]

def extract(cut, naug, out):
    import cv2
    trunk = OnnxTail('data', CUTS[cut]).eval()
    mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
    rng = np.random.default_rng(0)
    def view(rgb, aug):
        h, w = rgb.shape[:2]
        if not aug:  # HomeLens's preprocessing: shorter side 256, centre 224
            s = 256 / min(h, w); r = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            y, x = (r.shape[0] - 224) // 2, (r.shape[1] - 224) // 2; c = r[y:y + 224, x:x + 224]
        else:  # random crop of 35-100% of the area, aspect 3/4..4/3, mirrored half the time
            cw = ch = min(h, w)
            for _ in range(10):
                area = h * w * rng.uniform(0.35, 1.0); ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                tw, th = int(round(np.sqrt(area * ar))), int(round(np.sqrt(area / ar)))
                if tw <= w and th <= h:
                    cw, ch = tw, th; break
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            c = cv2.resize(rgb[y:y + ch, x:x + cw], (224, 224), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                c = c[:, ::-1]
        return ((c.astype(np.float32) / 255. - mean) / std).transpose(2, 0, 1)
    rows = [r for r in csv.DictReader(open(D + 'manifest.csv')) if r['room_type'] == 'frontal']
    paths, X, t0 = [], [], time.time()
    for i, r in enumerate(rows):
        rgb = cv2.cvtColor(cv2.imread(D + r['path']), cv2.COLOR_BGR2RGB)
        with torch.no_grad():
            X.append(trunk(torch.from_numpy(np.stack([view(rgb, a > 0) for a in range(naug + 1)]))).numpy().astype(np.float16))
        paths.append(r['path'])
        if i % 100 == 0:
            print(i, '%.0fs' % (time.time() - t0), flush=True)
    np.savez(out, paths=np.array(paths), X=np.stack(X), cut=cut)

def cv(a):
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.metrics import balanced_accuracy_score, accuracy_score
    z = np.load(a.feats); paths = list(z['paths']); cut = str(z['cut']) if 'cut' in z else a.cut
    idx, hid, groups, lab = labeled(paths)
    X = torch.from_numpy(z['X'][idx].astype(np.float32))
    classes = {'front': ['0', '1'], 'style': ['spanish', 'ranch', 'traditional', 'contemporary', 'other'], 'stories': ['1', '2', '3']}
    tasks = list(classes)
    Y = {t: np.array([classes[t].index(lab[h][COLUMN[t]]) for h in hid]) for t in tasks}
    W = {t: torch.tensor([a.low_conf_weight if t != 'front' and lab[h][t + '_conf'] == 'low' else 1.0 for h in hid]) for t in tasks}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.tail, self.drop = OnnxTail(CUTS[cut]), nn.Dropout(a.dropout)
            self.heads = nn.ModuleDict({t: nn.Linear(1280, len(classes[t])) for t in tasks})
        def forward(self, x):
            e = self.drop(self.tail(x))
            return {t: h(e) for t, h in self.heads.items()}

    pred = {t: np.zeros(len(hid), int) for t in tasks}
    t0 = time.time()
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=a.seed).split(np.zeros(len(hid)), Y['style'], groups)
    for fold, (tr, te) in enumerate(folds):
        torch.manual_seed(a.seed * 100 + fold); rng = np.random.default_rng(fold)
        net = Net()
        if a.lr_tail == 0:
            net.tail.requires_grad_(False)
        cw = {t: torch.tensor([len(tr) / (len(classes[t]) * max(1, (Y[t][tr] == k).sum())) for k in range(len(classes[t]))],
                              dtype=torch.float32) for t in tasks}
        groups_ = [{'params': net.heads.parameters(), 'lr': a.lr_head}]
        if a.lr_tail > 0:
            groups_.append({'params': net.tail.parameters(), 'lr': a.lr_tail})
        opt = torch.optim.AdamW(groups_, weight_decay=a.weight_decay)
        steps = a.epochs * ((len(tr) + 31) // 32)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g['lr'] for g in groups_], total_steps=steps, pct_start=0.1)
        for _ in range(a.epochs):
            net.train(); perm = rng.permutation(tr)
            for b in range(0, len(perm), 32):
                bi = perm[b:b + 32]
                out = net(X[bi, rng.integers(1, X.shape[1], len(bi))])  # a random augmented view each time
                loss = sum((F.cross_entropy(out[t], torch.from_numpy(Y[t][bi]), weight=cw[t], reduction='none') * W[t][bi]).mean()
                           for t in tasks)
                opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        net.eval()
        with torch.no_grad():
            views = range(X.shape[1]) if a.tta else [0]
            outs = [net(X[te, v]) for v in views]
            for t in tasks:
                pred[t][te] = torch.stack([F.softmax(o[t], 1) for o in outs]).mean(0).argmax(1).numpy()
        print('fold', fold, '%.0fs' % (time.time() - t0), flush=True)
    print('cut', cut, {k: v for k, v in vars(a).items() if k != 'cmd'})
    for t in tasks:
        print('%-8s accuracy %.3f  balanced %.3f' % (t, accuracy_score(Y[t], pred[t]), balanced_accuracy_score(Y[t], pred[t])))

if __name__ == '__main__':
    torch.set_num_threads(os.cpu_count())
    p = argparse.ArgumentParser(description='Fine-tuning screening for the tag heads (see the top of this file).')
    sub = p.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('extract'); e.add_argument('cut', choices=CUTS); e.add_argument('naug', type=int); e.add_argument('out')
    c = sub.add_parser('cv'); c.add_argument('feats'); c.add_argument('--cut', choices=CUTS, help='for files without it')
    c.add_argument('--lr-tail', type=float, default=1e-4); c.add_argument('--lr-head', type=float, default=1e-3)
    c.add_argument('--weight-decay', type=float, default=1e-3); c.add_argument('--dropout', type=float, default=0.3)
    c.add_argument('--epochs', type=int, default=30); c.add_argument('--seed', type=int, default=0)
    c.add_argument('--low-conf-weight', type=float, default=0.5); c.add_argument('--tta', action='store_true')
    a = p.parse_args()
    extract(a.cut, a.naug, a.out) if a.cmd == 'extract' else cv(a)
