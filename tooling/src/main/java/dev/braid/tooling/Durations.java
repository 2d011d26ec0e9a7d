package dev.braid.tooling;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one duration grammar of braid's programs (the {@code braid} command line and the stress scenarios):
 * parts of a number and a unit, {@code ms}, {@code s}, {@code m} or {@code h}, written one after the other
 * ({@code 500ms}, {@code 1.5s}, {@code 30s}, {@code 10m}, {@code 1h}, {@code 1m30s}); a bare number is
 * seconds ({@code 3}); ISO-8601 works too ({@code PT30S}). Case and spaces around the whole do not matter.
 * Negative durations are refused. Stateless.
 */
public final class Durations {
    /** What {@link #parse} accepts, for error messages. */
    public static final String FORMS = "500ms, 1.5s, 30s, 10m, 1h, 1m30s, a bare number of seconds, or ISO-8601 PT30S";

    private static final Pattern PART = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)");
    private static final Pattern SECONDS = Pattern.compile("\\d+(?:\\.\\d+)?");

    private Durations() {
    }

    /**
     * Parses {@code text}.
     *
     * @throws IllegalArgumentException naming the text and the forms above when it is not a duration
     */
    public static Duration parse(final String text) {
        final String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.startsWith("pt")) {
            try {
                final Duration d = Duration.parse(s.toUpperCase(Locale.ROOT));
                if (!d.isNegative()) {
                    return d;
                }
            } catch (java.time.format.DateTimeParseException e) {
                // falls through to the error below
            }
            throw notADuration(text);
        }
        if (SECONDS.matcher(s).matches()) {
            return nanos(Double.parseDouble(s) * 1e9);
        }
        final Matcher m = PART.matcher(s);
        double nanos = 0;
        int end = 0;
        while (m.find() && m.start() == end) {
            final double n = Double.parseDouble(m.group(1));
            nanos += n * switch (m.group(2)) {
                case "ms" -> 1e6;
                case "s" -> 1e9;
                case "m" -> 60e9;
                default -> 3600e9;
            };
            end = m.end();
        }
        if (end == 0 || end != s.length()) {
            throw notADuration(text);
        }
        return nanos(nanos);
    }

    private static Duration nanos(final double nanos) {
        return Duration.ofNanos(Math.round(nanos));
    }

    private static IllegalArgumentException notADuration(final String text) {
        return new IllegalArgumentException("'" + text + "' is not a duration (forms: " + FORMS + ")");
    }

    /** For people: {@code 500 ms}, {@code 1.5 s}, {@code 90 s}. */
    public static String format(final Duration d) {
        final long ms = d.toMillis();
        if (ms < 1000) {
            return ms + " ms";
        }
        return String.format(Locale.ROOT, "%.3f", ms / 1000.0).replaceAll("\\.?0+$", "") + " s";
    }
}
