#!/usr/bin/env bash
# A newcomer's first hour, timed step by step (docs/results/first-hour.md): a clone of this repository at
# COMMIT, npm ci, a LeNet-5 trained on a folder of images, prune on it at b = 1, then the packed package
# in an empty folder running the README's library example verbatim. Run it on an idle machine.
#   bash bench/first-hour.sh COMMIT WORKDIR
set -uo pipefail
commit=$1; work=$(realpath -m "$2"); repo=$(realpath "$(dirname "$0")/..")
step() { local name=$1; shift; local t0=$(date +%s); "$@"; local rc=$?; echo "STEP $name: $(( $(date +%s) - t0 )) s, exit $rc, load $(cut -d' ' -f1-3 /proc/loadavg)"; return $rc; }
mkdir -p "$work" && cd "$work" && rm -rf clone app runs
[ -d my-images ] || (cd "$repo" && node bench/write-image-folder.mjs "$work/my-images")
step clone git clone -q "$repo" clone && cd clone && git checkout -q "$commit"
step npm-ci bash -c 'npm ci --no-audit --no-fund > ../npm-ci.log 2>&1'
step train bash -c 'npx autoprune --no-tui --runs-dir ../runs train --model lenet5 --data ../my-images --epochs 3 > ../train.out 2> ../train.log'
step prune bash -c "npx autoprune --no-tui --runs-dir ../runs prune --model $(cat ../train.out) --data ../my-images --tolerance 1 > ../prune.out 2> ../prune.log"
mkdir -p ../app && cd ../app
step pack-install bash -c 'npm pack --silent --pack-destination . ../clone > /dev/null && npm init -y > /dev/null && npm install --no-audit --no-fund ./autoprune-*.tgz > install.log 2>&1'
sed -n '/^```js$/,/^```$/p' ../clone/README.md | sed '1d;$d' > example.mjs # the README's example, verbatim
step library-example bash -c 'node example.mjs > example.out 2> example.log'
tail -4 example.out
