package dev.braid.jmh.report;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One entry of a JMH JSON result file: a benchmark method (or group) with one combination of
 * {@code @Param} values. For a JMH group ({@code @Group}) {@link #benchmark()} ends in the group name, the
 * primary metric covers all of its methods and each method's own figures are the secondary metric named
 * after the method (JMH leaves that out when the group has a single method). Immutable.
 *
 * @param benchmark fully qualified method or group name, e.g. {@code dev.braid.jmh.CallBenchmark.roundTrip}
 * @param mode      JMH's short mode name: thrpt, avgt, sample, ss
 * @param threads   threads that ran the benchmark (for a group, all of its threads)
 * @param params    {@code @Param} values in the order JMH wrote them
 * @param secondary secondary metrics by name, e.g. {@code gc.alloc.rate.norm}, {@code loadedCall}
 * @param source    the file it was read from, for messages
 */
public record JmhResult(String benchmark, String mode, int threads, Map<String, String> params,
                        Metric primary, Map<String, Metric> secondary, Jvm jvm, String source) {

    /** The JVM and JMH settings a result records, shown in the report header. */
    public record Jvm(String jvm, List<String> jvmArgs, String jdkVersion, String vmName, String vmVersion,
                      String jmhVersion, int forks, String warmup, String measurement) {
    }

    public JmhResult {
        params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
        secondary = Collections.unmodifiableMap(new LinkedHashMap<>(secondary));
    }

    /** {@code dev.braid.jmh.CallBenchmark} for {@code dev.braid.jmh.CallBenchmark.roundTrip}. */
    public String className() {
        final int dot = benchmark.lastIndexOf('.');
        return dot < 0 ? "" : benchmark.substring(0, dot);
    }

    /** {@code CallBenchmark} for {@code dev.braid.jmh.CallBenchmark.roundTrip}. */
    public String simpleClassName() {
        final String c = className();
        return c.substring(c.lastIndexOf('.') + 1);
    }

    /** {@code roundTrip} for {@code dev.braid.jmh.CallBenchmark.roundTrip} (the group name for a group). */
    public String method() {
        return benchmark.substring(benchmark.lastIndexOf('.') + 1);
    }

    /** The secondary metric of that name, or null. */
    public Metric secondary(final String name) {
        return secondary.get(name);
    }

    /** Bytes allocated per operation ({@code gc.alloc.rate.norm} of {@code -prof gc}), or NaN. */
    public double allocBytesPerOp() {
        final Metric m = secondary.get(Metrics.ALLOC_NORM);
        return m == null ? Double.NaN : m.score();
    }

    /** Whether every entry of {@code wanted} is among this result's params (extra params of the result allowed). */
    public boolean hasParams(final Map<String, String> wanted) {
        for (final Map.Entry<String, String> e : wanted.entrySet()) {
            if (!e.getValue().equals(params.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /** Params as {@code backend=nio, payload=64}, or an empty string. */
    public String paramsText() {
        return Metrics.paramsText(params);
    }
}
