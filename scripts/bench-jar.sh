# Sourced by scripts/bench, bench-check and bench-report (after scripts/jdk.sh): sets BRAID_BENCH_JAR to
# jmh/target/benchmarks.jar, building it first when it is missing or a source or pom is newer.
# Expects $root, the repository root.
BRAID_BENCH_JAR="$root/jmh/target/benchmarks.jar"
if [ ! -f "$BRAID_BENCH_JAR" ] \
        || [ -n "$(find "$root" -path "$root/*/src/main/*" -newer "$BRAID_BENCH_JAR" -print -quit 2>/dev/null)" ] \
        || [ -n "$(find "$root" -maxdepth 2 -name pom.xml -newer "$BRAID_BENCH_JAR" -print -quit 2>/dev/null)" ]; then
    echo "braid: building jmh/target/benchmarks.jar (missing or sources changed; takes a minute)..." >&2
    braid_build_log="$(mktemp -t braid-bench-build.XXXXXX)"
    if ! (cd "$root" && ./mvnw -B -q --no-transfer-progress -DskipTests -pl jmh -am package) > "$braid_build_log" 2>&1; then
        cat "$braid_build_log" >&2
        echo "braid: the build failed (output above); fix it or run './mvnw -pl jmh -am package -DskipTests' to retry" >&2
        rm -f "$braid_build_log"
        exit 1
    fi
    rm -f "$braid_build_log"
    echo "braid: built jmh/target/benchmarks.jar" >&2
fi
