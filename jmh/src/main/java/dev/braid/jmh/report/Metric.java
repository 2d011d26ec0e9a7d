package dev.braid.jmh.report;

import java.util.Collections;
import java.util.List;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * One figure of a JMH result: its score (mean for average and sample time, rate for throughput), error,
 * unit, for sample-time metrics its percentiles keyed by percent (50.0, 99.9, 99.99...), and the value of
 * each measurement iteration where JMH wrote them ({@code rawData}, all forks in order; empty for sample-time
 * primary metrics, which JMH writes as a histogram). Values JMH wrote as "NaN" are {@link Double#NaN}.
 * Immutable.
 */
public record Metric(double score, double scoreError, String unit, NavigableMap<Double, Double> percentiles,
                     List<Double> iterations) {

    public Metric {
        percentiles = Collections.unmodifiableNavigableMap(new TreeMap<>(percentiles));
        iterations = List.copyOf(iterations);
    }

    /** The given percentile (percent, e.g. 99.9), or NaN when JMH did not record it. */
    public double percentile(final double percent) {
        final Double v = percentiles.get(percent);
        return v == null ? Double.NaN : v;
    }

    /** The given percentile converted to microseconds, or NaN when absent or not a time unit. */
    public double percentileMicros(final double percent) {
        return Units.toMicros(percentile(percent), unit);
    }

    /** The score converted to microseconds per operation, or NaN when not a time unit. */
    public double scoreMicros() {
        return Units.toMicros(score, unit);
    }

    /** The score converted to nanoseconds per operation, or NaN when not a time unit. */
    public double scoreNanos() {
        return Units.toMicros(score, unit) * 1_000.0;
    }

    /** The lowest measurement iteration, or NaN when JMH wrote none. */
    public double minIteration() {
        return iterations.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
    }

    /** The highest measurement iteration, or NaN when JMH wrote none. */
    public double maxIteration() {
        return iterations.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
