#!/bin/bash
# Decisions before and after: a short prune and a short compare, same config and seed, at two commits.
# usage: bash bench/same-decisions.sh OLD NEW [WORKDIR]   (WORKDIR default /tmp/autoprune-same-decisions)
set -e
W=${3:-/tmp/autoprune-same-decisions}; REPO=$(git rev-parse --show-toplevel); mkdir -p $W
for c in "$1" "$2"; do
  d=$W/wt-$c
  [ -d $d ] || { git -C $REPO worktree add --detach $d $c >/dev/null; ln -s $REPO/node_modules $d/node_modules; }
  rm -rf $W/runs-$c
  (cd $d && node bin/autoprune.mjs --no-tui --runs-dir $W/runs-$c prune --config configs/demo-lenet5-mnist.json --max-iterations 8 --min-iterations 4 > $W/prune-$c.log 2>&1)
  (cd $d && node bin/autoprune.mjs --no-tui --runs-dir $W/runs-$c compare --config configs/demo-lenet5-mnist.json --methods rl,l1,random,taylor,sensitivity --probes 2 --max-iterations 6 --min-iterations 3 > $W/compare-$c.log 2>&1)
done
python3 - "$1" "$2" "$W" <<'PY'
import json,glob,sys
W=sys.argv[3]
def load(c):
    runs=sorted(glob.glob(f'{W}/runs-{c}/*/run.json'))
    out={}
    for r in runs:
        j=json.load(open(r)); out.setdefault(j['command'],[]).append(j)
    return out
a,b=load(sys.argv[1]),load(sys.argv[2])
pa,pb=a['prune'][0]['result'],b['prune'][0]['result']
g=lambda p:[(x['groupId'],x['kept'],[(q['kept'],q['validationAccuracy']) for q in x.get('probes',[])],[i['meanReward'] for i in x.get('iterations',[])]) for x in p['groups']]
print('prune groups equal:', g(pa)==g(pb))
print('prune certification equal:', pa.get('certification')==pb.get('certification'))
ca=json.load(open(glob.glob(f"{W}/runs-{sys.argv[1]}/*compare*/results.json")[0]))
cb=json.load(open(glob.glob(f"{W}/runs-{sys.argv[2]}/*compare*/results.json")[0]))
keys=['method','status','theoreticalSpeedup','compressionRatio','validationAccuracy','testAccuracy','layers','tradeOff','certification','ranking']
for ra,rb in zip(ca['rows'],cb['rows']):
    diff=[k for k in keys if ra.get(k)!=rb.get(k)]
    print(ra['method'], 'equal' if not diff else f'DIFFERS in {diff}')
PY
