package dev.braid.stress.link;

import java.time.Duration;

/**
 * The switches of one emulated link, shared by its directions (and, for a relay, by every connection through
 * it): the pacing rate, a stall, a blackhole, and (relay form only) one-byte segments. Any thread may flip
 * them at any time; each is one volatile field, read by the delay lines as they schedule and deliver, so a
 * change takes effect for the next chunk or packet (a rate change: for what is serialized from then on).
 *
 * <ul>
 *   <li><b>Stall</b>: nothing is delivered until it ends; what arrives meanwhile queues up to the buffer
 *   (the relay then stops reading; the namespace form drops what does not fit). On resume what was held
 *   is delivered at once, then pacing goes on.</li>
 *   <li><b>Blackhole</b>: everything is dropped silently, both ways (the relay keeps reading, so a sender's
 *   TCP sees its data taken; nothing arrives on the other side).</li>
 *   <li><b>One-byte segments</b> (relay): each byte is written to the receiving socket on its own, with
 *   TCP_NODELAY, so the receiver's TCP gets one-byte segments. Slow (a system call per byte): for
 *   functional tests of decoders, not for throughput.</li>
 * </ul>
 */
public final class LinkControl {
    private volatile long bytesPerSecond;
    private volatile long stalledUntilNanos;
    private volatile boolean stalled;
    private volatile boolean blackhole;
    private volatile boolean oneByteSegments;

    LinkControl(final long bytesPerSecond) {
        this.bytesPerSecond = bytesPerSecond;
    }

    /** Pacing rate from now on (0 = none). */
    public void setRate(final long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("rate " + bytesPerSecond);
        }
        this.bytesPerSecond = bytesPerSecond;
    }

    public long rate() {
        return bytesPerSecond;
    }

    /** Stops delivering for {@code d} (then resumes by itself). */
    public void stall(final Duration d) {
        stalledUntilNanos = System.nanoTime() + d.toNanos();
        stalled = true;
    }

    /** Stops delivering until {@link #resume()}. */
    public void stall() {
        stalledUntilNanos = System.nanoTime() + Long.MAX_VALUE / 4; // about 73 years: "until resumed"
        stalled = true;
    }

    public void resume() {
        stalled = false;
    }

    /** Whether delivery is stopped at {@code nowNanos}. */
    public boolean stalledAt(final long nowNanos) {
        return stalled && nowNanos - stalledUntilNanos < 0;
    }

    /** Drop everything, both ways, from now on (true) or stop dropping (false). */
    public void blackhole(final boolean on) {
        blackhole = on;
    }

    public boolean blackholed() {
        return blackhole;
    }

    /** Relay form: write each byte on its own (true) or whole chunks (false). */
    public void oneByteSegments(final boolean on) {
        oneByteSegments = on;
    }

    public boolean oneByteSegments() {
        return oneByteSegments;
    }
}
