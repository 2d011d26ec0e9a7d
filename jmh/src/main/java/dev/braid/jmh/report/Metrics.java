package dev.braid.jmh.report;

import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Names a figure of a {@link JmhResult} by a short text, the {@code metric} of a baseline check:
 * <ul>
 *   <li>{@code score}: the primary score (mean time for avgt/sample, rate for thrpt);</li>
 *   <li>{@code p50}, {@code p99.9}: a percentile of the primary metric, in percent;</li>
 *   <li>any secondary metric by name, e.g. {@code gc.alloc.rate.norm} or a group method {@code loadedCall};</li>
 *   <li>{@code loadedCall:p99}: a percentile of that secondary metric.</li>
 * </ul>
 * Values are in the unit JMH wrote; a ratio of two figures of the same kind is unit-free only when both
 * use the same unit, so {@link #value} converts times to microseconds and rates to operations per second.
 */
public final class Metrics {
    /** Bytes allocated per operation, from {@code -prof gc}. */
    public static final String ALLOC_NORM = "gc.alloc.rate.norm";

    private Metrics() {
    }

    /** How a score is taken over the measurement iterations. */
    public enum Statistic {
        /** JMH's score: the mean over all iterations. */
        MEAN,
        /** The lowest iteration, e.g. allocation once the JIT has finished (a real regression is in every one). */
        MIN,
        /** The highest iteration. */
        MAX
    }

    /**
     * The figure named by {@code spec} in {@code r}, with times in µs and rates in ops/s (other units as
     * written), or NaN when the result does not have it.
     */
    public static double value(final JmhResult r, final String spec) {
        return value(r, spec, Statistic.MEAN);
    }

    /**
     * As {@link #value(JmhResult, String)}; a score (not a percentile) is taken with {@code statistic}, which
     * is NaN when it is not the mean and JMH wrote no per-iteration values.
     */
    public static double value(final JmhResult r, final String spec, final Statistic statistic) {
        final Metric m = metric(r, spec);
        if (m == null) {
            return Double.NaN;
        }
        final String figure = r.secondary(spec) != null ? "score"
                : spec.lastIndexOf(':') >= 0 ? spec.substring(spec.lastIndexOf(':') + 1) : spec;
        if (figure.equals("score")) {
            final double v = switch (statistic) {
                case MEAN -> m.score();
                case MIN -> m.minIteration();
                case MAX -> m.maxIteration();
            };
            return normalised(v, m.unit());
        }
        final double percent = percent(figure);
        return Double.isNaN(percent) ? Double.NaN : normalised(m.percentile(percent), m.unit());
    }

    /** The metric {@code spec} refers to: a secondary metric by full name, a secondary's, or the primary. */
    private static Metric metric(final JmhResult r, final String spec) {
        if (r.secondary(spec) != null) {
            return r.secondary(spec);
        }
        final int colon = spec.lastIndexOf(':');
        if (colon >= 0) {
            return r.secondary(spec.substring(0, colon));
        }
        return spec.equals("score") || isPercentile(spec) ? r.primary() : null;
    }

    /** Whether {@code figure} names a percentile, such as {@code p99.9}. */
    public static boolean isPercentile(final String figure) {
        return !Double.isNaN(percent(figure));
    }

    /** 99.9 for "p99.9", NaN when {@code figure} is not of that form. */
    static double percent(final String figure) {
        if (figure.length() < 2 || figure.charAt(0) != 'p') {
            return Double.NaN;
        }
        try {
            final double p = Double.parseDouble(figure.substring(1));
            return p >= 0 && p <= 100 ? p : Double.NaN;
        } catch (final NumberFormatException e) {
            return Double.NaN;
        }
    }

    /** The unit {@link #value} reports the figure in: "us/op", "ops/s" or JMH's own; empty when absent. */
    public static String unit(final JmhResult r, final String spec) {
        final Metric m = metric(r, spec);
        if (m == null) {
            return "";
        }
        if (Units.isTimePerOp(m.unit())) {
            return "us/op";
        }
        return Units.isOpsPerTime(m.unit()) ? "ops/s" : m.unit();
    }

    /**
     * Operations per second of the whole benchmark: the score for throughput mode; threads divided by the
     * mean time per operation for average and sample time. NaN when neither applies.
     */
    public static double opsPerSecond(final JmhResult r) {
        final Metric m = r.primary();
        if (Units.isOpsPerTime(m.unit())) {
            return Units.toOpsPerSecond(m.score(), m.unit());
        }
        final double micros = m.scoreMicros();
        return micros > 0 ? r.threads() * 1e6 / micros : Double.NaN;
    }

    static double normalised(final double value, final String unit) {
        if (Units.isTimePerOp(unit)) {
            return Units.toMicros(value, unit);
        }
        if (Units.isOpsPerTime(unit)) {
            return Units.toOpsPerSecond(value, unit);
        }
        return value;
    }

    /** {@code backend=nio, payload=64}; empty for no params. */
    public static String paramsText(final Map<String, String> params) {
        return params.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining(", "));
    }

    /** Four significant digits, no trailing zeros, no exponent: 8, 0.349, 1523, 0.0002234; "—" for NaN. */
    public static String plain(final double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "—";
        }
        if (v == 0) {
            return "0";
        }
        return new java.math.BigDecimal(v).round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString();
    }

    /** Bytes per operation: "≈ 0" below 0.01 (what -prof gc reports for a path that allocates nothing), else {@link #format}. */
    public static String formatBytes(final double v) {
        return Math.abs(v) < 0.01 ? "≈ 0" : format(v);
    }

    /** About three significant digits (all of the integer part, with thousands separators), no exponent; "—" for NaN. */
    public static String format(final double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "—";
        }
        final double a = Math.abs(v);
        final String pattern;
        if (a == 0) {
            return "0";
        } else if (a >= 1000) {
            pattern = "%,.0f";
        } else if (a >= 100) {
            pattern = "%.0f";
        } else if (a >= 10) {
            pattern = "%.1f";
        } else if (a >= 1) {
            pattern = "%.2f";
        } else if (a >= 0.01) {
            pattern = "%.3f";
        } else {
            pattern = "%.2g";
        }
        return String.format(Locale.ROOT, pattern, v);
    }
}
