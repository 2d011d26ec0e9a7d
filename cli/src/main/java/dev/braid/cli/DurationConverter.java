package dev.braid.cli;

import picocli.CommandLine;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a duration option: {@code 10s}, {@code 1.5s}, {@code 500ms}, {@code 1m}, or a bare number of seconds.
 * A value it cannot read is a usage error (exit code 2) naming the option and the forms it takes.
 */
final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    private static final Pattern FORM = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m)?");

    @Override
    public Duration convert(final String value) {
        return parse(value);
    }

    static Duration parse(final String value) {
        final Matcher m = FORM.matcher(value.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new CommandLine.TypeConversionException("'" + value
                    + "' is not a duration (forms: 10s, 1.5s, 500ms, 1m, or seconds as a number)");
        }
        final double amount = Double.parseDouble(m.group(1));
        final String unit = m.group(2) == null ? "s" : m.group(2);
        final double nanos = switch (unit) {
            case "ms" -> amount * 1e6;
            case "m" -> amount * 60e9;
            default -> amount * 1e9;
        };
        return Duration.ofNanos(Math.round(nanos));
    }

    /** "10 s", "1.5 s", "500 ms". */
    static String format(final Duration d) {
        final long ms = d.toMillis();
        if (ms < 1000) {
            return ms + " ms";
        }
        final String s = String.format(Locale.ROOT, "%.3f", ms / 1000.0).replaceAll("\\.?0+$", "");
        return s + " s";
    }
}
