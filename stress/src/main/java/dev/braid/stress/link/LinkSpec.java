package dev.braid.stress.link;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What an emulated link does to what crosses it, the same in each direction: a fixed one-way delay, a pacing
 * rate (the bottleneck's serialization: {@code bytes / rate} per chunk or packet, one after the other), a
 * bounded bottleneck queue, and optional jitter (a uniform extra delay in {@code [0, jitter]} per chunk or
 * packet, never reordering: a chunk is never delivered before the one ahead of it). Immutable.
 *
 * <p>The bottleneck queue, {@code bufferBytes}, holds what has arrived but not yet been serialized (queued
 * behind the rate). What is "on the wire" (serialized, still within its delay) is about {@code rate x delay}
 * bytes on top, held by the emulator too. The relay form stops reading when the queue is full (so TCP pushes
 * back on the sender); the namespace form drops packets that do not fit (tail drop, as a router does).
 *
 * @param oneWayDelayNanos each direction's propagation delay (the round trip is twice this)
 * @param bytesPerSecond   pacing rate per direction; 0 = no pacing (delay only)
 * @param bufferBytes      bottleneck queue per direction, bytes not yet serialized
 * @param jitterNanos      extra delay per chunk or packet, uniform in [0, jitter]; 0 = none
 * @param seed             seed of the jitter's random numbers (runs are repeatable)
 */
public record LinkSpec(long oneWayDelayNanos, long bytesPerSecond, long bufferBytes, long jitterNanos, long seed) {
    /** Smallest default bottleneck queue, whatever the bandwidth-delay product. */
    public static final long MIN_DEFAULT_BUFFER = 256 * 1024;

    public LinkSpec {
        if (oneWayDelayNanos < 0 || bytesPerSecond < 0 || bufferBytes < 1 || jitterNanos < 0) {
            throw new IllegalArgumentException("bad link: delay " + oneWayDelayNanos + " ns, rate " + bytesPerSecond
                    + " B/s, buffer " + bufferBytes + " B, jitter " + jitterNanos + " ns");
        }
    }

    /**
     * A link with round trip {@code rtt} and {@code bytesPerSecond} each way, no jitter, and a bottleneck queue
     * of one bandwidth-delay product (rate x round trip), at least {@link #MIN_DEFAULT_BUFFER}.
     */
    public static LinkSpec of(final Duration rtt, final long bytesPerSecond) {
        final long oneWay = rtt.toNanos() / 2;
        final long bdp = bytesPerSecond == 0 ? 0 : (long) (bytesPerSecond * (2 * oneWay / 1e9));
        return new LinkSpec(oneWay, bytesPerSecond, Math.max(MIN_DEFAULT_BUFFER, bdp), 0, 1);
    }

    public LinkSpec withBuffer(final long bytes) {
        return new LinkSpec(oneWayDelayNanos, bytesPerSecond, bytes, jitterNanos, seed);
    }

    public LinkSpec withJitter(final Duration jitter) {
        return new LinkSpec(oneWayDelayNanos, bytesPerSecond, bufferBytes, jitter.toNanos(), seed);
    }

    public LinkSpec withRate(final long rate) {
        return new LinkSpec(oneWayDelayNanos, rate, bufferBytes, jitterNanos, seed);
    }

    public Duration rtt() {
        return Duration.ofNanos(2 * oneWayDelayNanos);
    }

    /** Bytes in flight at full rate over one round trip: rate x round trip. */
    public long bdpBytes() {
        return (long) (bytesPerSecond * (2 * oneWayDelayNanos / 1e9));
    }

    /** e.g. "rtt 20 ms, 125.0 MB/s, buffer 2.5 MB, no jitter". */
    public String describe() {
        return String.format(Locale.ROOT, "rtt %s, %s, buffer %s, %s", millis(2 * oneWayDelayNanos),
                bytesPerSecond == 0 ? "no rate limit" : rate(bytesPerSecond), bytes(bufferBytes),
                jitterNanos == 0 ? "no jitter" : "jitter " + millis(jitterNanos));
    }

    static String millis(final long nanos) {
        final double ms = nanos / 1e6;
        return ms == Math.rint(ms) ? String.format(Locale.ROOT, "%d ms", (long) ms) : String.format(Locale.ROOT, "%.1f ms", ms);
    }

    /** "125.0 MB/s" (MB = 10^6 bytes). */
    public static String rate(final long bytesPerSecond) {
        return String.format(Locale.ROOT, "%.1f MB/s", bytesPerSecond / 1e6);
    }

    static String bytes(final long n) {
        return n >= 1_000_000 ? String.format(Locale.ROOT, "%.1f MB", n / 1e6)
                : String.format(Locale.ROOT, "%.0f KB", n / 1e3);
    }

    private static final Pattern RATE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(|b|kb|mb|gb|kib|mib|gib|gbit|mbit)(?:/s)?");

    /**
     * Parses a rate: {@code 125MB/s} (MB = 10^6 bytes), {@code 500KB/s}, {@code 1GB/s}, {@code 64MiB/s},
     * {@code 1Gbit/s}, {@code 100Mbit/s}, or a plain number of bytes per second. 0 = unlimited.
     */
    public static long parseRate(final String text) {
        final Matcher m = RATE.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("not a rate: '" + text + "' (use e.g. 125MB/s, 1Gbit/s, 64MiB/s)");
        }
        final double v = Double.parseDouble(m.group(1));
        final double mult = switch (m.group(2)) {
            case "kb" -> 1e3;
            case "mb" -> 1e6;
            case "gb" -> 1e9;
            case "kib" -> 1024;
            case "mib" -> 1024 * 1024;
            case "gib" -> 1024.0 * 1024 * 1024;
            case "mbit" -> 1e6 / 8;
            case "gbit" -> 1e9 / 8;
            default -> 1;
        };
        return (long) (v * mult);
    }

    /** Parses a byte count: {@code 4MiB}, {@code 512KiB}, {@code 2MB}, {@code 65536}. */
    public static long parseBytes(final String text) {
        final Matcher m = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(|b|kb|mb|gb|kib|mib|gib|k|m|g)")
                .matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("not a size: '" + text + "' (use e.g. 65536, 512KiB, 4MiB, 2MB)");
        }
        final double v = Double.parseDouble(m.group(1));
        final double mult = switch (m.group(2)) {
            case "kb" -> 1e3;
            case "mb" -> 1e6;
            case "gb" -> 1e9;
            case "kib", "k" -> 1024;
            case "mib", "m" -> 1024 * 1024;
            case "gib", "g" -> 1024.0 * 1024 * 1024;
            default -> 1;
        };
        return (long) (v * mult);
    }
}
