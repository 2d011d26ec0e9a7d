package dev.braid.jmh.report;

/** Conversions between the units JMH writes ("us/op", "ns/op", "ops/s", "ops/ms", "B/op", ...). */
public final class Units {
    private Units() {
    }

    /** Nanoseconds in one of JMH's time units ("ns", "us", "ms", "s", "min", "hr"), or NaN for anything else. */
    static double nanos(final String timeUnit) {
        return switch (timeUnit) {
            case "ns" -> 1.0;
            case "us", "µs" -> 1e3;
            case "ms" -> 1e6;
            case "s" -> 1e9;
            case "min" -> 60e9;
            case "hr" -> 3600e9;
            default -> Double.NaN;
        };
    }

    /** True for a time-per-operation unit such as "us/op". */
    public static boolean isTimePerOp(final String unit) {
        return unit != null && unit.endsWith("/op") && !Double.isNaN(nanos(unit.substring(0, unit.length() - 3)));
    }

    /** True for an operations-per-time unit such as "ops/s". */
    public static boolean isOpsPerTime(final String unit) {
        return unit != null && unit.startsWith("ops/") && !Double.isNaN(nanos(unit.substring(4)));
    }

    /** A value in a time-per-operation unit, in microseconds; NaN when the unit is not one. */
    public static double toMicros(final double value, final String unit) {
        if (!isTimePerOp(unit)) {
            return Double.NaN;
        }
        return value * nanos(unit.substring(0, unit.length() - 3)) / 1e3;
    }

    /** A value in an operations-per-time unit, per second; NaN when the unit is not one. */
    public static double toOpsPerSecond(final double value, final String unit) {
        if (!isOpsPerTime(unit)) {
            return Double.NaN;
        }
        return value * 1e9 / nanos(unit.substring(4));
    }
}
