package dev.braid.internal.engine.stream;

/**
 * Receive-window auto-tuning for one connection (issue 13): estimates the connection's bandwidth-delay
 * product as it runs and moves the per-stream window this side grants ({@link ReceiveWindow}) towards it,
 * telling the peer with WINDOW messages (docs/protocol.md, "Window auto-tuning").
 *
 * <h2>Estimate</h2>
 * When stream data arrives and no PING is out (and the last one went at least {@link #MIN_PING_INTERVAL}
 * ago), a PING goes to the peer on the extension program; the peer answers PONG at once on its control
 * lane. The PONG closes a sample: its round trip, and the stream bytes the applications consumed while it
 * was out (a delivery rate: bytes / round trip; consumed, not received, so that a reader that does not read
 * never makes its window grow). The estimate keeps the smallest round trip of the last
 * {@link #FILTER_NANOS} (a round trip that includes a queue is not the link's; when the smallest is that
 * old, the window is cut to the product for a round trip, so that the queue drains, and the next sample is
 * the new smallest: taking the current sample instead took its queue for the link, and the window grew
 * into it, a packet or two more every {@link #FILTER_NANOS}, and the queue ahead of calls with it) and the second largest of the
 * last nine rates measured since the window last grew (a rate measured under a smaller window is not the link's, and
 * one measured while the reader caught up on a backlog is more than the link's): bandwidth-delay product =
 * that rate x the smallest round trip. A sample whose round trip is more than twice the smallest is a
 * stall (a thread of either side that waited for a CPU, a link that stopped) and is left out.
 *
 * <h2>Window</h2>
 * The target is the estimate rounded up to whole maximal packets, plus two packets, within [initial
 * window, maximum]. Not more: what a sender has in flight beyond the product only waits in queues (its
 * kernel, the bottleneck) ahead of every call. Not less: besides the product, the in-flight count of a
 * sender includes what the receiver holds until a packet is consumed and credited (credit comes back a
 * packet at a time at most, {@link StreamFlowControl#consumed}) and the packet being serialized, two packets
 * that sit in no queue. To find a long link quickly the tuner starts by <em>probing</em>: while a sample
 * shows the window was the limit (at least half of it arrived in one round trip) and found no queue (see
 * below), and the largest rate grew by at least 1/4
 * since the last growth, the window doubles; when twice in a row the rate does not follow, the pipe is full
 * and the estimate decides from then on. Later probes (every {@link #FILTER_NANOS}) start from a window
 * near the product, so they step by a quarter of the window (the rate must grow by 1/8): doubling there
 * queued a whole product ahead of every call for a few round trips. After the probe the window follows the queue: a sample whose round
 * trip is within {@link #QUEUE_SLACK_NANOS} + 1/64 of the smallest found no queue, so if the window was the
 * limit (half of it or more arrived in the round trip) the link has room and the window grows by one
 * packet; samples that found a queue measured the link's own rate, and when three in a row did (one alone may be
 * a thread that waited for a CPU) the window shrinks to the estimate if that is more than a packet below it
 * (so does a window the writers leave mostly unused). The sample
 * right after a growth is skipped (it began before the peer had the new window). Every
 * {@link #FILTER_NANOS} it probes again (by quarters, above). The window grows only when the applications consumed at least
 * half of it in the sample's round trip: a reader that does not read never makes it grow. When stream data arrives after more than {@link #IDLE_NANOS}
 * without any, the estimate starts again from the initial window: the link may have changed meanwhile.
 *
 * <p>Keeping the window near one product, not above it, is what keeps calls fast beside streams: what a
 * sender has in flight beyond the product only waits in queues (its kernel, the bottleneck) ahead of every
 * call. The sender's budget follows this window ({@link SendBudget#follow}), so N streams together keep
 * about one window in flight.
 *
 * <p><b>Threads.</b> The connection's reader only (stream data, PONG), with the current time passed in; its
 * outputs go through {@link Signals} and {@link ReceiveWindow} (volatile, read anywhere).
 */
final class WindowTuner {
    /** Least time between two PINGs: bounds the PINGs on a short link (at most 200 a second). */
    static final long MIN_PING_INTERVAL = 5_000_000L;
    /** How long the smallest round trip and the largest rate are kept: a link that changes is followed. */
    static final long FILTER_NANOS = 10_000_000_000L;
    /** No stream data for this long: the estimate starts again from the initial window. */
    static final long IDLE_NANOS = 2_000_000_000L;
    /**
     * A round trip longer than the smallest by more than this (plus 1/64 of the smallest) means a queue:
     * about one maximal packet at 125 MB/s, the call latency issue 13 allows beside streams.
     */
    static final long QUEUE_SLACK_NANOS = 1_000_000L;
    /** A PING unanswered for this long is given up (another may go). */
    static final long PING_GIVE_UP_NANOS = 10_000_000_000L;

    /** Where the tuner's messages go (the connection's control lane). */
    interface Signals {
        /** Sends a PING carrying {@code token}. */
        void sendPing(long token);

        /** Sends a WINDOW: each stream's window is now {@code window} bytes. */
        void sendWindow(long window);
    }

    private final long initial;
    private final long max;
    private final ReceiveWindow window;
    private final Signals signals;
    /** Cost consumed by the applications so far, as last seen. */
    private long received;
    private long lastData = Long.MIN_VALUE;
    private boolean pingOut;
    private long pingToken;
    private long pingSent;
    private boolean pinged;
    private long receivedAtPing;
    private long minRtt = Long.MAX_VALUE;
    private long minRttAt;
    private double maxRate;
    private long maxRateAt;
    private long samples;
    /** Growing the window by steps while the rate follows (start-up, and a probe now and then). */
    private boolean probing = true;
    /**
     * The probe since the (re)start: it doubles the window. A later probe (every {@link #FILTER_NANOS})
     * grows it by a quarter a step: it starts from a window near the product, so doubling it put a whole
     * product in the bottleneck queue, ahead of every call, for the few round trips it took to see the rate
     * not follow (at 50 ms, calls 50 ms late every 10 s: the p99 beside streams).
     */
    private boolean startup = true;
    private double rateAtGrowth;
    /** The last rates (bytes/s) measured since the window last grew; the estimate takes their second largest. */
    private final double[] rates = new double[9];
    private int rateCount;
    private final double[] sorted = new double[9];
    /** Samples in a row that found a queue (one alone may be a thread that waited for a CPU). */
    private int queued;
    /** Probing samples in a row in which the rate did not follow the window. */
    private int flat;
    private long probedAt;
    /** Samples to ignore: they began before the last WINDOW could take effect. */
    private int skip;
    /**
     * Draining before a new smallest round trip is taken (see {@link #onPong}): 2 after the window was cut
     * to the product (the next sample began before the cut), 1 for the sample that measures the link.
     */
    private int draining;

    WindowTuner(final long initial, final long max, final ReceiveWindow window, final Signals signals) {
        this.initial = initial;
        this.max = Math.max(initial, max);
        this.window = window;
        this.signals = signals;
    }

    /**
     * Reader: a stream packet arrived at {@code now} (System.nanoTime); the applications have consumed
     * {@code consumed} bytes of packet cost on this connection so far.
     */
    void onData(final long consumed, final long now) {
        if (lastData != Long.MIN_VALUE && now - lastData > IDLE_NANOS) {
            restart();
        }
        lastData = now;
        received = consumed;
        if (pingOut && now - pingSent > PING_GIVE_UP_NANOS) {
            pingOut = false;
        }
        if (!pingOut && (!pinged || now - pingSent >= MIN_PING_INTERVAL)) {
            pinged = true;
            pingOut = true;
            pingSent = now;
            pingToken = now;
            receivedAtPing = received;
            signals.sendPing(pingToken);
        }
    }

    /**
     * Reader: a PONG carrying {@code token} arrived at {@code now}, with {@code consumed} bytes of packet
     * cost consumed by the applications so far. A token other than the outstanding PING's (stale, or made up
     * by the peer) is ignored.
     */
    void onPong(final long token, final long consumed, final long now) {
        if (!pingOut || token != pingToken) {
            return;
        }
        received = consumed;
        pingOut = false;
        final long rtt = Math.max(1, now - pingSent);
        final long bytes = received - receivedAtPing;
        samples++;
        if (draining > 0) {
            if (--draining > 0) {
                return; // began before the peer had the drained window
            }
            minRtt = rtt; // the link's round trip now, with the queue drained: longer or shorter than before
            minRttAt = now;
        } else if (rtt <= minRtt) {
            minRtt = rtt;
            minRttAt = now;
        } else if (now - minRttAt > FILTER_NANOS) {
            // The smallest round trip is old. Taking this sample instead would take whatever queue it found
            // for the link's (and then the window would grow into that queue, and the next expiry take a
            // longer one: calls later every 10 s). So first drain: the product alone for a round trip.
            final long drained = Math.max(initial, wholePackets((long) Math.ceil(rateEstimate() * minRtt / 1e9)));
            if (drained < window.current()) {
                draining = 2;
                probing = false;
                flat = 0;
                setWindow(drained);
                return;
            }
            minRtt = rtt; // nothing to drain: the window is already at most the product
            minRttAt = now;
        }
        if (rtt > 2 * minRtt + QUEUE_SLACK_NANOS) {
            return; // a stall (a thread that waited for a CPU, a link that stopped): says nothing of the link
        }
        final double rate = bytes * 1e9 / rtt;
        if (rate >= maxRate || now - maxRateAt > FILTER_NANOS) {
            maxRate = rate;
            maxRateAt = now;
        }
        rates[rateCount++ % rates.length] = rate;
        final long current = window.current();
        // In flight beyond the product: what the receiver holds until a packet is consumed and credited
        // (a packet at a time) and the packet being serialized; two packets cover both without a queue.
        final long estimate = wholePackets((long) Math.ceil(rateEstimate() * minRtt / 1e9))
                + 2 * StreamFlowControl.FULL_PACKET_COST;
        if (skip > 0) {
            skip--; // the window the last growth granted had not reached the sender when this sample began
            return;
        }
        // A queue (the bottleneck's, the kernels') lengthens the round trip: without one, the link has room.
        final boolean queue = rtt > minRtt + minRtt / 64 + QUEUE_SLACK_NANOS;
        queued = queue ? queued + 1 : 0;
        // The window was the limit: most of it arrived within the round trip (else the writers were).
        final boolean windowLimited = bytes >= current / 2;
        long target = estimate;
        if (probing) {
            // start-up doubles and wants the rate up by 1/4; a later probe steps by 1/4 and wants it up by 1/8
            final double follows = startup ? 1.25 : 1.125;
            if (windowLimited && !queue && (rateAtGrowth == 0 || maxRate >= rateAtGrowth * follows)) {
                rateAtGrowth = maxRate;
                flat = 0;
                rateCount = 0; // the rates at the old window say nothing of the new one
                target = Math.max(estimate, startup ? 2 * current
                        : current + Math.max(StreamFlowControl.FULL_PACKET_COST, wholePackets(current / 4)));
            } else if (++flat >= 2) {
                probing = false; // twice the rate did not follow the window: the pipe is full
                startup = false;
                probedAt = now;
            }
        } else if (now - probedAt > FILTER_NANOS) {
            probing = true; // look again now and then: the link may carry more than it did
            rateAtGrowth = 0;
            flat = 0;
        }
        if (!probing && windowLimited && !queue) {
            target = Math.max(estimate, current + StreamFlowControl.FULL_PACKET_COST); // room: one more packet
        }
        target = Math.min(max, Math.max(initial, target));
        if (target > current && windowLimited) { // grow only a window the applications used
            skip = 1;
            setWindow(target);
        } else if (target < current - StreamFlowControl.FULL_PACKET_COST && (queued >= 3 || !windowLimited)) {
            setWindow(target); // a queue stayed, or the writers do not use the window: back to the estimate
        }
    }

    /**
     * Nearly the largest of the rates measured since the window last grew (of the last nine, the second
     * largest): not the largest, because a sample in which the reader caught up after its thread waited for
     * a CPU counts more bytes than the link carried in that time; not the median or a quartile, because
     * samples in which the window was the limit measure less than the link and pull the window down with
     * them (measured: the window settled 20-30 % below the product on this 2-CPU machine).
     */
    private double rateEstimate() {
        final int n = Math.min(rateCount, rates.length);
        if (n == 0) {
            return maxRate;
        }
        System.arraycopy(rates, 0, sorted, 0, n);
        java.util.Arrays.sort(sorted, 0, n);
        return sorted[n - 1 - n / 8];
    }

    /** Estimate, after the first sample: the smallest round trip in nanoseconds (for tests and stats). */
    long minRtt() {
        return minRtt;
    }

    /** Samples taken (PONGs that closed one). */
    long samples() {
        return samples;
    }

    private void restart() {
        minRtt = Long.MAX_VALUE;
        maxRate = 0;
        pingOut = false;
        probing = true;
        startup = true;
        rateAtGrowth = 0;
        flat = 0;
        skip = 0;
        draining = 0;
        rateCount = 0;
        queued = 0;
        if (window.current() != initial) {
            setWindow(initial);
        }
    }

    private void setWindow(final long w) {
        window.set(w);
        signals.sendWindow(w);
    }

    /** {@code bytes} rounded up to whole maximal packets. */
    private static long wholePackets(final long bytes) {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        return (Math.max(bytes, 0) + full - 1) / full * full;
    }
}
