package dev.braid.stress;

import org.HdrHistogram.Histogram;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/** Prints HdrHistogram summaries (values recorded in nanoseconds) as aligned table rows. */
final class Histograms {
    private Histograms() {
    }

    /** A histogram for nanosecond values up to an hour, 3 significant digits. Not thread-safe. */
    static Histogram nanos() {
        return new Histogram(TimeUnit.HOURS.toNanos(1), 3);
    }

    static void header(final PrintStream out, final String unit) {
        out.printf(Locale.ROOT, "%-26s %9s %10s %10s %10s %10s %10s %10s%n", "", "count", "mean " + unit,
                "p50 " + unit, "p90 " + unit, "p99 " + unit, "p99.9 " + unit, "max " + unit);
    }

    /** One row; {@code unit} is "µs" or "ms". */
    static void row(final PrintStream out, final String name, final Histogram h, final String unit) {
        final double div = "ms".equals(unit) ? 1e6 : 1e3;
        out.printf(Locale.ROOT, "%-26s %9d %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f%n", name, h.getTotalCount(),
                h.getMean() / div, h.getValueAtPercentile(50) / div, h.getValueAtPercentile(90) / div,
                h.getValueAtPercentile(99) / div, h.getValueAtPercentile(99.9) / div, h.getMaxValue() / div);
    }

    static double p99Micros(final Histogram h) {
        return h.getValueAtPercentile(99) / 1e3;
    }
}
