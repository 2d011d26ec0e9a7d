#!/usr/bin/env bash
# One pass of issue 12 §5's TLS figures, both TLS engines (the JDK's and BoringSSL's), one after another
# under /tmp/braid-bench.lock; about 20 minutes on two CPUs. Appends JMH's result lines and the fairness
# probe's summaries to the file given (default tls-figures.txt). Needs the built jmh/target/benchmarks.jar
# (./mvnw -DskipTests package). docs/benchmarks.md, "One pass of every §5 figure", reads one such file.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/jdk.sh"
cd "$root"
out="${1:-tls-figures.txt}"
J="java -jar jmh/target/benchmarks.jar"
run() { echo "=== $* ($(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg))" >> $out; flock /tmp/braid-bench.lock "$@" 2>&1 | grep -E "^[A-Za-z]+Benchmark|Nanos|all rounds|TLS ratio|^Benchmark " | grep -v "^#" >> $out; }
run $J '(Tls)?TwoProcessCallBenchmark.roundTrip|\.(Tls)?CallBenchmark.roundTrip|GrpcTlsCallBenchmark.roundTrip' -p backend=nio,epoll,loom -wi 2 -w 2s -i 4 -r 2s -f 1
run $J '(Tls)?TwoProcessCallBenchmark.roundTrip|\.TlsCallBenchmark.roundTrip' -p backend=nio,epoll,loom -wi 2 -w 2s -i 4 -r 2s -f 1 -jvmArgsAppend -Dbraid.bench.tls=openssl
run $J 'TlsStreamRatioBenchmark' -p backend=nio,epoll,loom -wi 2 -w 2s -i 4 -r 2s -f 1
run $J 'TlsStreamRatioBenchmark' -p backend=nio,epoll,loom -p grpc=false -wi 2 -w 2s -i 4 -r 2s -f 1 -jvmArgsAppend -Dbraid.bench.tls=openssl
for be in nio epoll loom; do
  run java -Dbraid.bench.tls=openssl -cp jmh/target/benchmarks.jar dev.braid.jmh.FairnessRatioProbe $be 8 2
  run java -Dbraid.bench.tls=jdk -cp jmh/target/benchmarks.jar dev.braid.jmh.FairnessRatioProbe $be 8 2
done
run $J 'GrpcTlsFairnessBenchmark|GrpcFairnessBenchmark' -wi 2 -w 2s -i 4 -r 2s -f 1
run $J 'TlsHandshakeBenchmark' -p backend=nio,epoll,loom -wi 2 -w 2s -i 3 -r 2s -f 1
echo "=== done $(date +%T)" >> $out
