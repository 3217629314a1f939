# Feature screening for the tag heads (not part of the product): embeds the front
# photos of ../shared/data/houses_dataset several ways (centre crop as HomeLens does,
# whole photo, native aspect, 320-px, flips, 2x2 grids, earlier layers) into an .npz
# that cv.py scores. Needs Debian's python3-opencv and python3-numpy.
#   /usr/bin/python3 extract.py front OUT.npz
import cv2, numpy as np, csv, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import SHARED, D
net=cv2.dnn.readNetFromONNX(SHARED+'/models/mobilenetv2-torchvision-imagenet/mobilenetv2_fp32.onnx')
mean=np.array([0.485,0.456,0.406],np.float32); std=np.array([0.229,0.224,0.225],np.float32)
L_final='onnx_node_output_0!627_quantized_f_clip'; L160='onnx_node_output_0!452_quantized_f'; L96='onnx_node_output_0!426_quantized_f'; L320='onnx_node_output_0!624_quantized_f'
def prep(rgb,w,h):
    x=cv2.resize(rgb,(w,h),interpolation=cv2.INTER_AREA).astype(np.float32)/255.
    x=(x-mean)/std
    return x.transpose(2,0,1)[None].copy()
def run(x):
    net.setInput(x)
    f,a,b,c=net.forward([L_final,L160,L96,L320])
    return f[0],a[0],b[0],c[0]
def crop_center(img,short=256,size=224):
    h,w=img.shape[:2]; s=short/min(h,w)
    r=cv2.resize(img,(round(w*s),round(h*s)),interpolation=cv2.INTER_AREA)
    H,W=r.shape[:2]; y=(H-size)//2; x=(W-size)//2
    return r[y:y+size,x:x+size]
rows=list(csv.DictReader(open(D+'manifest.csv')))
only_front = len(sys.argv)>1 and sys.argv[1]=='front'
out={}
t=time.time()
feats={k:[] for k in ['crop','crop_flip','crop_g2','full','full_flip','nat','nat_flip','nat_g2','nat320','l160','l96','l320','nat_l160','nat_l96']}
paths=[]
for i,r in enumerate(rows):
    if only_front and r['room_type']!='frontal': continue
    bgr=cv2.imread(D+r['path'],cv2.IMREAD_COLOR); rgb=cv2.cvtColor(bgr,cv2.COLOR_BGR2RGB)
    paths.append(r['path'])
    c=crop_center(rgb)
    f,a,b,cc=run(prep(c,224,224))
    feats['crop'].append(f.mean((1,2))); feats['l160'].append(a.mean((1,2))); feats['l96'].append(b.mean((1,2))); feats['l320'].append(cc.mean((1,2)))
    feats['crop_g2'].append(np.concatenate([f[:,:4,:4].mean((1,2)),f[:,:4,3:].mean((1,2)),f[:,3:,:4].mean((1,2)),f[:,3:,3:].mean((1,2))]))
    f,_,_,_=run(prep(c[:,::-1].copy(),224,224)); feats['crop_flip'].append(f.mean((1,2)))
    f,_,_,_=run(prep(rgb,224,224)); feats['full'].append(f.mean((1,2)))
    f,_,_,_=run(prep(rgb[:,::-1].copy(),224,224)); feats['full_flip'].append(f.mean((1,2)))
    h,w=rgb.shape[:2]; W=int(round(224*w/h/32))*32
    f,a,b,_=run(prep(rgb,W,224)); feats['nat'].append(f.mean((1,2))); feats['nat_l160'].append(a.mean((1,2))); feats['nat_l96'].append(b.mean((1,2)))
    gh=f.shape[1]//2+1; gw=f.shape[2]//2+1
    feats['nat_g2'].append(np.concatenate([f[:,:gh,:gw].mean((1,2)),f[:,:gh,-gw:].mean((1,2)),f[:,-gh:,:gw].mean((1,2)),f[:,-gh:,-gw:].mean((1,2))]))
    f,_,_,_=run(prep(rgb[:,::-1].copy(),W,224)); feats['nat_flip'].append(f.mean((1,2)))
    W2=int(round(320*w/h/32))*32
    f,_,_,_=run(prep(rgb,W2,320)); feats['nat320'].append(f.mean((1,2)))
    if i%100==0: print(i,time.time()-t,flush=True)
np.savez(sys.argv[2],paths=np.array(paths),**{k:np.array(v,np.float32) for k,v in feats.items()})
