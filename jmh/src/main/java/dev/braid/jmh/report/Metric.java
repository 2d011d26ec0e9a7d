package dev.braid.jmh.report;

import java.util.Collections;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * One figure of a JMH result: its score (mean for average and sample time, rate for throughput), error,
 * unit and, for sample-time metrics, its percentiles keyed by percent (50.0, 99.9, 99.99...).
 * Values JMH wrote as "NaN" are {@link Double#NaN}. Immutable.
 */
public record Metric(double score, double scoreError, String unit, NavigableMap<Double, Double> percentiles) {

    public Metric {
        percentiles = Collections.unmodifiableNavigableMap(new TreeMap<>(percentiles));
    }

    public static Metric of(final double score, final String unit) {
        return new Metric(score, Double.NaN, unit, new TreeMap<>());
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

    static Metric withPercentiles(final double score, final double error, final String unit,
                                  final Map<Double, Double> percentiles) {
        return new Metric(score, error, unit, new TreeMap<>(percentiles));
    }
}
