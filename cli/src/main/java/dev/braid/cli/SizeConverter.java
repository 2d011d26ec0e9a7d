package dev.braid.cli;

import picocli.CommandLine;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a size option: bytes as a number, or with a binary suffix ({@code 512K}, {@code 10M}, {@code 64G},
 * {@code 2T}; a trailing {@code B} or {@code iB} is allowed). A value it cannot read is a usage error (exit
 * code 2) naming the forms it takes.
 */
final class SizeConverter implements CommandLine.ITypeConverter<Long> {
    private static final Pattern FORM = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]?)(?:i?b)?");

    @Override
    public Long convert(final String value) {
        return parse(value);
    }

    static long parse(final String value) {
        final Matcher m = FORM.matcher(value.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a size (forms: 1048576, 512K, "
                    + "10M, 64G, 2T)");
        }
        final int shift = switch (m.group(2)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        final double bytes = Double.parseDouble(m.group(1)) * (1L << shift);
        if (bytes >= Long.MAX_VALUE) {
            throw new CommandLine.TypeConversionException("'" + value + "' is too large");
        }
        return (long) bytes;
    }
}
