#!/bin/bash
# Failover with a large state: loads a fresh 3-replica vsr-kv cluster with ~30,000 keys of 1,000 bytes
# (64 clients, 20 s), kill -9s the primary, and times the first acknowledged write through replica 1.
# usage: bash packages/kv-service/bench/failover.sh PORT DIR   (e.g. 7800 /tmp/failover)
cd "$(dirname "$0")/../../.."
PORT=$1; DIR=$2; rm -rf $DIR
(timeout -s INT 200 npx tsx packages/kv-service/src/vsr-kv.ts cluster --replicas 3 --dir $DIR --port $PORT > $DIR.log 2>&1 &)
sleep 5
H0=$((PORT+100)); H1=$((PORT+101)); H2=$((PORT+102))
npm run -s bench:kv -- --urls http://127.0.0.1:$H0 --clients 64 --seconds 20 --keys 40000 --value-bytes 1000 --json 2>/dev/null | node -pe 'const r=JSON.parse(require("fs").readFileSync(0));"load: "+[r.throughput+" req/s",r.completed+" writes","p99 "+r.latencyMs.p99,"errors "+r.errors,JSON.stringify(r.errorKinds).slice(0,400),"views "+JSON.stringify(r.view)].join(", ")'
du -sh $DIR/replica-0/checkpoint.json
for h in $H0 $H1 $H2; do curl -s -m 2 http://127.0.0.1:$h/status | cut -c1-100; echo; done
PID=$(curl -s http://127.0.0.1:$H0/status | node -pe 'JSON.parse(require("fs").readFileSync(0)).pid')
START=$(date +%s%N)
kill -9 $PID
for i in $(seq 1 200); do
  CODE=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X PUT --data after http://127.0.0.1:$H1/kv/probe)
  if [ "$CODE" = "200" ]; then break; fi
  sleep 0.05
done
END=$(date +%s%N)
echo "failover: first acknowledged write $(( (END-START)/1000000 )) ms after kill -9 (code $CODE)"
for h in $H1 $H2; do curl -s -m 2 http://127.0.0.1:$h/status | cut -c1-100; echo; done
pkill -INT -f "cluster --replicas 3 --dir $DIR" ; sleep 3
