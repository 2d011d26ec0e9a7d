package dev.braid.internal.engine.stream;

import dev.braid.internal.wire.FrameHeader;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connection's stream send budget ({@code BraidConfig.streamSendBudget}): the bytes of stream data this
 * side keeps in flight (sent, not yet credited back) on one connection, shared among the streams that have
 * data in flight. With N such streams each may have {@code max(budget / N, one packet)} in flight,
 * rounded up to whole packets, within its own window, as long as all of them together stay within
 * the budget; a stream with nothing in flight may always send one packet, so every stream progresses.
 *
 * <h2>Packet size</h2>
 * With window auto-tuning on this side ({@link #adaptive}), it also chooses how large the stream packets it
 * sends are ({@link #packetPayload()}): the largest of libvirt's largest payload, 131,044, 32,740 and 8,164
 * bytes (each fills a pool buffer class with its header) that goes in {@link #PACKET_TIME_NANOS} at the
 * connection's delivery rate (the rate at which the peer credits data back, the largest of the last
 * {@link #RATE_SAMPLES} intervals of at least {@link #RATE_INTERVAL_NANOS}), and never more than a quarter of
 * the peer's window (at least the smallest). Only on a link of {@link #SMALL_PACKETS_ROUND_TRIP_NANOS} or more
 * (the round trip this side's tuner measured): loopback and LANs keep libvirt's largest. Why: a packet the writer hands to the socket is a burst that sits in the bottleneck's queue
 * ahead of any call queued after it, and the window a sender needs beyond the bandwidth-delay product is a
 * couple of packets; with libvirt's 262,120-byte packets, at 125 MB/s each is 2.1 ms, so a call beside
 * streams waited 4-6 ms more than the round trip however well the window followed the link (issue 13).
 * Until a rate is known, and with auto-tuning off, packets are the largest.
 *
 * <p><b>Threads.</b> Any thread. {@link #sharing()} is a plain volatile read; the count changes only through
 * {@link StreamFlowControl}, which enters and leaves it once per period in flight with a CAS of its own.
 * {@link #credited} and {@link #follow} run on the connection's reader only (the rate's fields are its own);
 * {@link #packetPayload()} is a volatile read.
 */
final class SendBudget {
    /** How long one packet may take at the connection's delivery rate (see "Packet size"). */
    static final long PACKET_TIME_NANOS = 500_000L;
    /**
     * The payloads an adaptive packet may have, largest first: libvirt's largest, then what fills the buffer
     * pool's 128, 32 and 8 KiB classes with the 28-byte header (a 32 KiB payload would take a 128 KiB
     * buffer: the server's pool peak went from 9.5 to 40 MiB in the wan scenario).
     */
    private static final int[] PAYLOADS = {FrameHeader.MAX_STREAM_PAYLOAD, 131_072 - FrameHeader.HEADER_LENGTH,
            32_768 - FrameHeader.HEADER_LENGTH, 8_192 - FrameHeader.HEADER_LENGTH};
    /** Smallest payload an adaptive packet has. */
    static final int MIN_PACKET_PAYLOAD = PAYLOADS[PAYLOADS.length - 1];
    /**
     * Packets follow the rate only on a link whose round trip is at least this: on loopback and LANs the
     * rate is what the CPUs allow, not a link's, and smaller packets cost CPU (the demo's streams on a busy
     * loopback went from 840-990 to 240-640 MB/s with 32 KiB packets), so the rate fell, and the packets with it.
     */
    static final long SMALL_PACKETS_ROUND_TRIP_NANOS = 1_000_000L;
    /** Shortest interval the delivery rate is measured over. */
    static final long RATE_INTERVAL_NANOS = 10_000_000L;
    /** Intervals whose largest rate counts. */
    static final int RATE_SAMPLES = 4;
    private static final int MAX_PAYLOAD = FrameHeader.MAX_STREAM_PAYLOAD;
    private static final int HEADER = FrameHeader.HEADER_LENGTH;
    private final long configured;
    private volatile long budget;
    /** Whether this side sizes its packets by the delivery rate (its window auto-tuning is on and negotiated). */
    private volatile boolean adaptive;
    /** Payload of the packets streams send now. */
    private volatile int packetPayload = MAX_PAYLOAD;
    /** Reader only: the delivery-rate measurement. */
    private long intervalStart = Long.MIN_VALUE;
    private long intervalBytes;
    private final double[] rates = new double[RATE_SAMPLES];
    private int rateCount;
    /** Reader only: the link's round trip as this side's tuner measured it (Long.MAX_VALUE: not yet). */
    private long linkRoundTrip = Long.MAX_VALUE;
    /** Reader only: the peer's last window (-1: none yet). */
    private long peerWindow = -1;
    private final AtomicInteger streamsInFlight = new AtomicInteger();
    /** Bytes sent by all streams and not yet credited back. */
    private final java.util.concurrent.atomic.AtomicLong inFlight = new java.util.concurrent.atomic.AtomicLong();

    SendBudget(final long budget) {
        this.configured = budget;
        this.budget = budget;
    }

    /**
     * Reader: the peer's auto-tuned stream window is now {@code peerWindow} (its estimate of the connection's
     * bandwidth-delay product, with headroom): on a link of {@link #SMALL_PACKETS_ROUND_TRIP_NANOS} or more the
     * budget becomes that window (at least two packets), above or below the configured one (on loopback and
     * LANs, the larger of the two), so that all streams together keep about one window in flight, not one
     * each, and no more than the link needs (the configured budget holds until the first WINDOW).
     */
    void follow(final long peerWindow) {
        this.peerWindow = peerWindow;
        budget = longLink() ? Math.max(peerWindow, 2 * packetCost()) : Math.max(configured, peerWindow);
        updatePacket();
    }

    /** Reader: whether the link's round trip is known and at least {@link #SMALL_PACKETS_ROUND_TRIP_NANOS}. */
    boolean longLink() {
        return linkRoundTrip != Long.MAX_VALUE && linkRoundTrip >= SMALL_PACKETS_ROUND_TRIP_NANOS;
    }

    /**
     * Once, when the extensions are known: whether this side sizes its packets by the delivery rate (see
     * "Packet size"): its window auto-tuning is on and the peer speaks the messages.
     */
    void adaptive(final boolean on) {
        adaptive = on;
    }

    /**
     * Reader: the peer credited {@code bytes} back at {@code now} (System.nanoTime), on a link whose round
     * trip is {@code linkRoundTrip} ns (Long.MAX_VALUE: not known): the delivery rate, and with it the packet
     * size, follow.
     */
    void credited(final long bytes, final long now, final long linkRoundTrip) {
        if (!adaptive) {
            return;
        }
        this.linkRoundTrip = linkRoundTrip;
        if (intervalStart == Long.MIN_VALUE) {
            intervalStart = now;
            intervalBytes = 0;
            return; // what this CREDIT returns was sent before the interval began
        }
        intervalBytes += bytes;
        final long elapsed = now - intervalStart;
        if (elapsed >= RATE_INTERVAL_NANOS) {
            rates[rateCount++ % RATE_SAMPLES] = intervalBytes * 1e9 / elapsed;
            intervalStart = now;
            intervalBytes = 0;
            updatePacket();
        }
    }

    private void updatePacket() {
        final int n = Math.min(rateCount, RATE_SAMPLES);
        if (!adaptive || n == 0) {
            return;
        }
        if (!longLink()) {
            packetPayload = payloadFor(Double.MAX_VALUE, peerWindow); // loopback, a LAN, or not known yet
            return;
        }
        double rate = 0;
        for (int i = 0; i < n; i++) {
            rate = Math.max(rate, rates[i]);
        }
        packetPayload = payloadFor(rate, peerWindow);
    }

    /**
     * The payload of a packet for a delivery rate of {@code bytesPerSecond} and a peer window of
     * {@code window} bytes (-1: none): see "Packet size".
     */
    static int payloadFor(final double bytesPerSecond, final long window) {
        final double fits = bytesPerSecond * PACKET_TIME_NANOS / 1e9;
        for (int p : PAYLOADS) {
            if (p == MIN_PACKET_PAYLOAD || (p <= fits && (window <= 0 || 4L * (p + HEADER) <= window))) {
                return p;
            }
        }
        throw new AssertionError(); // the last payload always returns
    }

    /** Payload of the stream packets this connection sends now (see "Packet size"). Any thread. */
    int packetPayload() {
        return packetPayload;
    }

    /** Window cost of a packet of {@link #packetPayload()} bytes. Any thread. */
    long packetCost() {
        return HEADER + (long) packetPayload;
    }

    /** The budget now. */
    long budget() {
        return budget;
    }

    /**
     * The share of the budget each stream with data in flight may have in flight now: never below one
     * packet's cost ({@link #packetCost()}: the largest, {@link StreamFlowControl#FULL_PACKET_COST}, unless
     * packets follow the delivery rate), so that each stream keeps at least one whole packet in flight
     * whatever the number of streams (below that, a stream would wait a round trip for every packet and half
     * of them would be partial).
     */
    long share() {
        return Math.max(budget / Math.max(1, streamsInFlight.get()), packetCost());
    }

    /**
     * Writer: whether a stream with {@code streamInFlight} bytes in flight may send a packet costing
     * {@code cost}: within its share rounded up to whole packets (so that N streams together can use
     * the budget whole, not lose up to a packet each to rounding), and within the budget in total. A stream
     * alone in flight (all the connection has in flight is its own) is bounded by its window only, as
     * {@code BraidConfig.streamSendBudget} says: the budget is what several streams share. With the default
     * budget and window (both four packets) that is the same; with a budget below the window (TLS
     * connections' default) one stream would otherwise keep only the budget in flight (a TLS stream with two
     * packets in flight on loopback: 0.69-0.83 of the raw pump in two runs of twelve).
     */
    boolean allows(final long streamInFlight, final long cost) {
        final long total = inFlight.get(); // only the writer adds to it: credit returned since may only lower it
        if (streamInFlight == total) {
            return true;
        }
        final long full = packetCost();
        final long share = (share() + full - 1) / full * full;
        return streamInFlight + cost <= share && total + cost <= budget;
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
