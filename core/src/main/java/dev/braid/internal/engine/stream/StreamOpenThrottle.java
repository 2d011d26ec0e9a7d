package dev.braid.internal.engine.stream;

/**
 * A server's token bucket on the streams its peer opens ({@code BraidConfig.maxStreamOpensPerSecond}, a burst
 * of {@code maxConcurrentStreams}): braid's answer to a peer opening and aborting streams in a closed loop,
 * which {@link PeerAbortLimit} can only close (and a closed attacker connects again, which costs the server as
 * much). Enforced by back-pressure: an open beyond the rate is not refused, the reader stops reading the
 * connection until a token is due ({@code ServerConnection}), so the peer's opens simply wait.
 *
 * <p>The bucket is kept as one "theoretical arrival time" ({@link #due}, the generic cell rate algorithm): each
 * token costs {@link #interval} nanoseconds; an open is allowed while {@code due} is at most {@code burst}
 * intervals ahead of now. So an idle connection has {@code burst} opens at once, then one per interval.
 *
 * <p><b>An abort costs more.</b> A stream the peer aborts while it is open here costs {@link #ABORT_COST}
 * tokens on top of its open ({@link #peerAborted}): the server paid for a handler and got nothing, and a
 * legitimate client rarely aborts (it cancels a transfer now and then), while a rapid-reset attacker does
 * nothing else. An open that finishes costs one token (1,000 a second by default); an open and abort costs
 * {@code 1 + ABORT_COST} (100 cycles a second by default), which also keeps a throttled attacker's connection
 * under {@code maxPeerStreamAbortsPerWindow} for longer, so it is held waiting instead of closed and
 * reconnecting. The charge is a debt on the bucket: the next open waits for it.
 *
 * <p>Costs two fields and a clock read per stream open or abort, nothing per packet.
 *
 * <p><b>Threads:</b> the connection's reader only (opens arrive as CALLs, aborts as STREAM packets), so the
 * fields are plain.
 */
public final class StreamOpenThrottle {
    /** Tokens an abort by the peer of a stream open here costs, on top of its open (see the class comment). */
    public static final int ABORT_COST = dev.braid.BraidConfig.STREAM_ABORT_OPEN_COST - 1;

    /** Nanoseconds per token; 0: no limit. */
    private final long interval;
    /** How far {@link #due} may run ahead of now for an open to be allowed: {@code burst} intervals. */
    private final long tolerance;
    private final int rate;
    private final int burst;
    /** Reader-owned: when the bucket is full again ({@code System.nanoTime}); at or before now: full. */
    private long due;
    /** Reader-owned: whether {@link #due} has been set (before that the bucket is full). */
    private boolean started;

    /**
     * @param perSecond opens allowed per second, on average; 0: no limit
     * @param burst     opens allowed at once from a full bucket, at least 1
     */
    public StreamOpenThrottle(final int perSecond, final int burst) {
        this.rate = perSecond;
        this.burst = Math.max(1, burst);
        this.interval = perSecond == 0 ? 0 : Math.max(1, 1_000_000_000L / perSecond);
        this.tolerance = this.interval * this.burst;
    }

    /** {@return whether the limit is on} */
    public boolean enabled() {
        return interval != 0;
    }

    /**
     * Reader: the peer opens a stream at {@code now} ({@code System.nanoTime}). Takes a token if one is there.
     *
     * @return 0 if the open may go ahead (its token taken), else the nanoseconds until a token is due (nothing
     *         taken: ask again then)
     */
    public long tryOpen(final long now) {
        if (interval == 0) {
            return 0;
        }
        final long base = !started || due - now < 0 ? now : due;
        final long next = base + interval;
        final long ahead = next - now - tolerance;
        if (ahead > 0) {
            return ahead;
        }
        due = next;
        started = true;
        return 0;
    }

    /** {@return whether an open at {@code now} would wait (nothing taken)} Reader. */
    public boolean wouldWait(final long now) {
        if (interval == 0) {
            return false;
        }
        final long base = !started || due - now < 0 ? now : due;
        return base + interval - now - tolerance > 0;
    }

    /** Reader: the peer aborted a stream open here, at {@code now}: {@link #ABORT_COST} more tokens are owed. */
    void peerAborted(final long now) {
        if (interval == 0) {
            return;
        }
        final long base = !started || due - now < 0 ? now : due;
        due = base + ABORT_COST * interval;
        started = true;
    }

    /** {@return the limit, as messages name it} */
    public String describe() {
        return "limit maxStreamOpensPerSecond = " + rate + ", burst " + burst + ", an abort costs "
                + (1 + ABORT_COST) + " opens";
    }
}
