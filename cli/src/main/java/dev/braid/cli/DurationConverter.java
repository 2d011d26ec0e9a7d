package dev.braid.cli;

import dev.braid.tooling.Durations;
import picocli.CommandLine;

import java.time.Duration;

/**
 * Reads a duration option with braid's one duration grammar ({@link Durations}: {@code 10s}, {@code 1.5s},
 * {@code 500ms}, {@code 1m30s}, a bare number of seconds...). A value it cannot read is a usage error (exit
 * code 2) naming the value and the forms it takes.
 */
final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(final String value) {
        return parse(value);
    }

    static Duration parse(final String value) {
        try {
            return Durations.parse(value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }

    /** "10 s", "1.5 s", "500 ms". */
    static String format(final Duration d) {
        return Durations.format(d);
    }
}
