package dev.braid.internal.engine.stream;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connection's stream send budget ({@code BraidConfig.streamSendBudget}): the bytes of stream data this
 * side keeps in flight (sent, not yet credited back) on one connection, shared among the streams that have
 * data in flight. With N such streams each may have {@code max(budget / N, one maximal packet)} in flight,
 * rounded up to whole maximal packets, within its own window, as long as all of them together stay within
 * the budget; a stream with nothing in flight may always send one packet, so every stream progresses.
 *
 * <p><b>Threads.</b> Any thread. {@link #sharing()} is a plain volatile read; the count changes only through
 * {@link StreamFlowControl}, which enters and leaves it once per period in flight with a CAS of its own.
 */
final class SendBudget {
    private final long configured;
    private volatile long budget;
    private final AtomicInteger streamsInFlight = new AtomicInteger();
    /** Bytes sent by all streams and not yet credited back. */
    private final java.util.concurrent.atomic.AtomicLong inFlight = new java.util.concurrent.atomic.AtomicLong();

    SendBudget(final long budget) {
        this.configured = budget;
        this.budget = budget;
    }

    /**
     * Reader: the peer's auto-tuned stream window is now {@code peerWindow} (its estimate of the connection's
     * bandwidth-delay product, with headroom): the budget becomes the larger of it and the configured
     * budget, so all streams together keep about one window in flight, not one each.
     */
    void follow(final long peerWindow) {
        budget = Math.max(configured, peerWindow);
    }

    /** The budget now. */
    long budget() {
        return budget;
    }

    /**
     * The share of the budget each stream with data in flight may have in flight now: never below one
     * maximal packet's cost ({@link StreamFlowControl#FULL_PACKET_COST}), so that each stream keeps at least
     * one whole packet in flight whatever the number of streams (below that, a stream would wait a round
     * trip for every packet and half of them would be partial).
     */
    long share() {
        return Math.max(budget / Math.max(1, streamsInFlight.get()), StreamFlowControl.FULL_PACKET_COST);
    }

    /**
     * Writer: whether a stream with {@code streamInFlight} bytes in flight may send a packet costing
     * {@code cost}: within its share rounded up to whole maximal packets (so that N streams together can use
     * the budget whole, not lose up to a packet each to rounding), and within the budget in total.
     */
    boolean allows(final long streamInFlight, final long cost) {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        final long share = (share() + full - 1) / full * full;
        return streamInFlight + cost <= share && inFlight.get() + cost <= budget;
    }

    /** Writer: a packet costing {@code cost} left. */
    void sent(final long cost) {
        inFlight.addAndGet(cost);
    }

    /** Any thread: {@code bytes} sent earlier were credited back, or their stream ended. */
    void returned(final long bytes) {
        inFlight.addAndGet(-bytes);
    }

    /** Bytes in flight on the connection (for tests and stats). */
    long inFlight() {
        return inFlight.get();
    }

    /** Streams with data in flight now. */
    int sharing() {
        return streamsInFlight.get();
    }

    void enter() {
        streamsInFlight.incrementAndGet();
    }

    void leave() {
        streamsInFlight.decrementAndGet();
    }
}
