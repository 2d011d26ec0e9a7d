package dev.braid.spi;

import dev.braid.BraidException;

import java.time.Duration;
import java.util.Locale;

/**
 * Reads braid's {@code braid.*} system properties strictly: an unset property is its default, a set one must
 * be a value of its type and range, and anything else fails with a {@link BraidException} (category
 * {@link BraidException.Category#CONFIG CONFIG}) naming the property, the value and what the property takes.
 * A typo never quietly becomes the default. {@link dev.braid.BraidConfig} reads its properties through this
 * class; a backend reads its own tuning properties ({@code braid.<backend>.*}) through it too.
 *
 * <p>Stateless and thread-safe; every call reads the property anew.
 */
public final class SystemProperties {
    private SystemProperties() {
    }

    /**
     * An {@code int} property.
     *
     * @param name         the property, e.g. {@code braid.ioThreads}
     * @param defaultValue the value when the property is not set
     * @param min          the smallest value accepted
     * @param max          the largest value accepted
     * @return the property's value, or {@code defaultValue} when it is not set
     * @throws BraidException when the property is set to anything but a decimal integer in [min, max]
     */
    public static int intValue(final String name, final int defaultValue, final int min, final int max) {
        return (int) longValue(name, defaultValue, min, max);
    }

    /**
     * A {@code long} property.
     *
     * @param name         the property
     * @param defaultValue the value when the property is not set
     * @param min          the smallest value accepted
     * @param max          the largest value accepted
     * @return the property's value, or {@code defaultValue} when it is not set
     * @throws BraidException when the property is set to anything but a decimal integer in [min, max]
     */
    public static long longValue(final String name, final long defaultValue, final long min, final long max) {
        final String raw = System.getProperty(name);
        if (raw == null) {
            return defaultValue;
        }
        final long v;
        try {
            v = Long.parseLong(raw.strip());
        } catch (NumberFormatException e) {
            throw invalid(name, raw, integers(min, max), defaultValue);
        }
        if (v < min || v > max) {
            throw invalid(name, raw, integers(min, max), defaultValue);
        }
        return v;
    }

    /**
     * A duration property given in milliseconds (the {@code braid.*Millis} properties).
     *
     * @param name         the property, e.g. {@code braid.callTimeoutMillis}
     * @param defaultValue the value when the property is not set
     * @return the property's value, or {@code defaultValue} when it is not set
     * @throws BraidException when the property is set to anything but a whole number of milliseconds, 0 or more
     */
    public static Duration millisValue(final String name, final Duration defaultValue) {
        final String raw = System.getProperty(name);
        if (raw == null) {
            return defaultValue;
        }
        try {
            final long ms = Long.parseLong(raw.strip());
            if (ms >= 0) {
                return Duration.ofMillis(ms);
            }
        } catch (NumberFormatException e) {
            // falls through to the error
        }
        throw invalid(name, raw, "a whole number of milliseconds, 0 or more", defaultValue.toMillis());
    }

    /**
     * A {@code boolean} property.
     *
     * @param name         the property, e.g. {@code braid.extensions}
     * @param defaultValue the value when the property is not set
     * @return the property's value, or {@code defaultValue} when it is not set
     * @throws BraidException when the property is set to anything but {@code true} or {@code false} (any case)
     */
    public static boolean booleanValue(final String name, final boolean defaultValue) {
        final String raw = System.getProperty(name);
        if (raw == null) {
            return defaultValue;
        }
        return switch (raw.strip().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw invalid(name, raw, "true or false", defaultValue);
        };
    }

    /**
     * A string property that must not be blank when set.
     *
     * @param name         the property, e.g. {@code braid.backend}
     * @param defaultValue the value when the property is not set
     * @param allowed      what the property takes, for the error message
     * @return the property's value (stripped), or {@code defaultValue} when it is not set
     * @throws BraidException when the property is set to an empty or blank string
     */
    public static String stringValue(final String name, final String defaultValue, final String allowed) {
        final String raw = System.getProperty(name);
        if (raw == null) {
            return defaultValue;
        }
        if (raw.isBlank()) {
            throw invalid(name, raw, allowed, defaultValue);
        }
        return raw.strip();
    }

    private static String integers(final long min, final long max) {
        if (max == Long.MAX_VALUE || max == Integer.MAX_VALUE) {
            return "an integer, " + min + " or more";
        }
        return "an integer from " + min + " to " + max;
    }

    private static BraidException invalid(final String name, final String raw, final String allowed,
                                          final Object defaultValue) {
        return new BraidException(BraidException.Category.CONFIG, "system property " + name + " is '" + raw
                + "': it takes " + allowed + " (unset, it is " + defaultValue + ")");
    }
}
