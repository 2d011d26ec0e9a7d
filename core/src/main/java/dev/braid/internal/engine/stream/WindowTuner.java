package dev.braid.internal.engine.stream;

/**
 * Receive-window auto-tuning for one connection (issue 13): estimates the connection's bandwidth-delay
 * product as it runs and moves the per-stream window this side grants ({@link ReceiveWindow}) towards it,
 * telling the peer with WINDOW messages (docs/protocol.md, "Window auto-tuning"; docs/design.md §8 has the
 * measurements behind each rule).
 *
 * <h2>Estimate</h2>
 * <ul>
 * <li><b>The link's round trip.</b> When the connection opens, a PING goes ({@link #start}): nothing is
 * queued, so its round trip is the link's (or more: the first of a connection pays for cold code, 6 ms on a
 * 2 ms link; the drain after start-up corrects it). Later, when stream data arrives and no PING is out (at most one per
 * {@link #MIN_PING_INTERVAL}), a PING goes; the peer answers PONG at once on its control lane. A shorter round
 * trip replaces the smallest at once. When the smallest is {@link #FILTER_NANOS} old, and once when start-up
 * has filled the pipe, the tuner <em>drains</em>: three quarters of the product for one round trip, the
 * sample after that is the new smallest (unless it looks like a stall: then again a second later, and
 * after 30 s of such drains taken anyway), and the window goes back to what it was. Taken under load instead, the round trip included
 * the queue, and the window grew into it (on a 2 ms link the initial window's queue made it 10.8 ms).</li>
 * <li><b>The rate.</b> A PONG closes a sample: the stream bytes the applications consumed while it was out
 * over its round trip (consumed, not received, so that a reader that does not read never makes its window
 * grow). The estimate takes nearly the largest of the last nine (the second largest): a rate measured under
 * a smaller window is less than the link's, one measured while the reader caught up is more.</li>
 * <li><b>The packet.</b> The window is counted in the peer's packets ({@link #unit}: the largest of the
 * last sample), which a braid peer sizes by the delivery rate ({@link SendBudget}).</li>
 * </ul>
 * Product = rate x smallest round trip. A sample whose round trip is more than twice the smallest plus
 * {@link #QUEUE_SLACK_NANOS} is a stall (a thread that waited for a CPU) or a queue longer than the link:
 * it never grows the window, but counts as a queue.
 *
 * <h2>Window</h2>
 * The target is the product in whole packets plus two packets (what the receiver holds until a packet is
 * consumed and credited, and the credit a sender waits to fill a packet: they sit in no queue), up to the
 * maximum; below the initial window only after a queue stayed (three samples in a row), or once there. To
 * find a long link quickly the tuner starts by <em>probing</em>: while the window was the limit and the rate
 * grew by 1/4 since the last growth, the window doubles (start-up asks no room of the round trip: each
 * doubling's credit is sent at once and queues at the bottleneck, whatever the link carries); when twice in a
 * row the rate does not follow, the pipe is full. Later probes (every {@link #FILTER_NANOS}) step by what the link carries in
 * {@link #PROBE_QUEUE_NANOS}, a quarter of the window at most (the rate must grow by half the step); a drain
 * that comes during one ends it and restores the window it began from. After that the window follows the queue, with two thresholds: a round trip within
 * {@link #QUEUE_SLACK_NANOS} (+1/256) of the smallest found <em>room</em>, and if the window was the limit it
 * grows by a packet, then two, four... while room lasts; one longer than twice that (+1/128) found a
 * <em>queue</em> if the window can hold that much beyond the product ({@link #ownQueue}), and three in a row shrink the window to the estimate; in between it holds (a scheduler's
 * jitter then neither grows nor shrinks it). "The window was the limit": half of it or more was consumed in
 * the round trip, and the rate times the link's round trip fills half of it (on loopback under load a slow
 * round trip made a window look full, and it grew to 4 MiB with calls waiting behind it). The sample right
 * after a change is skipped (it began before the peer had it). When stream data arrives after more than
 * {@link #IDLE_NANOS} without any, the window starts again from the initial one (the round trip stays).
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
     * A round trip within this of the smallest (plus 1/256 of it) found room; one longer by more than twice
     * this (plus 1/128) found a queue: at 125 MB/s, 62 and 125 KB, well within the 2 ms issue 13 allows a
     * call beside streams.
     */
    static final long QUEUE_SLACK_NANOS = 500_000L;
    /**
     * Smallest packet cost the window is counted in: a packet of {@link SendBudget#MIN_PACKET_PAYLOAD}, the
     * smallest a braid sender makes when it sizes its packets by the delivery rate.
     */
    static final long MIN_UNIT = SendBudget.MIN_PACKET_PAYLOAD + dev.braid.internal.wire.FrameHeader.HEADER_LENGTH;
    /**
     * A later probe (every {@link #FILTER_NANOS}) grows the window by at most what the link carries in this
     * long (a quarter of the window at most, a packet at least): what it adds beyond the product waits in
     * the bottleneck queue ahead of every call for the round trips the probe lasts. By quarters, a 50 ms link
     * at 125 MB/s queued 13 ms for about half a second every 10 s (six calls in a row at 63-78 ms: issue 13's
     * p99 beside streams, relay form, 6 December).
     */
    static final long PROBE_QUEUE_NANOS = 4_000_000L;
    /**
     * After a drain the window goes back in this many steps, spread over one round trip: restored at once,
     * the quarter of a product it had held back left the sender in one burst and queued ahead of calls (1.7 MB,
     * 13 ms at 125 MB/s: one call in 50 ms at 62-86 ms every 10 s, the p99 beside streams at 50 ms).
     */
    static final int RESTORE_STEPS = 8;
    /** A drain whose round trip looked like a stall is tried again after this. */
    static final long DRAIN_RETRY_NANOS = 1_000_000_000L;
    /** When {@link #recheck} runs after {@link #start}. */
    static final long RECHECK_NANOS = 1_000_000_000L;
    /** A PING unanswered for this long is given up (another may go). */
    static final long PING_GIVE_UP_NANOS = 10_000_000_000L;

    /** Where the tuner's messages go (the connection's control lane). */
    interface Signals {
        /**
         * Sends a PING carrying {@code token}; {@code first}: one of those sent when the connection is ready,
         * which go behind what is queued (the HELLO's answer must leave first), the others on the control lane.
         */
        void sendPing(long token, boolean first);

        /** Sends a WINDOW: each stream's window is now {@code window} bytes. */
        void sendWindow(long window);
    }

    /** Each window change, at DEBUG (what the tuner saw: round trip, rate, packet size). */
    private static final System.Logger LOG = System.getLogger("dev.braid.stream.tuner");
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
    /** The PING out was sent with no stream data arriving: its round trip is the link's, with no queue. */
    private boolean pingIdle;
    private long receivedAtPing;
    /**
     * The cost of the largest packet of the last sample that had any: the unit the window is counted in
     * (the peer sizes its packets by the delivery rate). The largest possible until data has arrived.
     */
    private long unit = StreamFlowControl.FULL_PACKET_COST;
    /** The largest packet cost seen since the last sample closed. */
    private long largestSeen;
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
    /** The window when the running later probe began (0: none, or start-up): what a drain during it restores. */
    private long probeFrom;
    /** The last rates (bytes/s) measured since the window last grew; the estimate takes nearly the largest. */
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
    /** Start-up just ended: drain at the next sample (see {@link #onPong}). */
    private boolean drainNext;
    /** The window before the drain, restored after it. */
    private long beforeDrain;
    /** The window a restore after a drain is going back to (0: none under way), from what, since when. */
    private long restoreTo;
    private long restoreFrom;
    private long restoreAt;
    /** Drains in a row whose round trip looked like a stall (see {@link #onPong}), and when the first was. */
    private int drainMisses;
    private long firstDrainMiss;
    /** Samples in a row that found room (the window was the limit, no queue): the next growth step doubles. */
    private int roomRun;

    WindowTuner(final long initial, final long max, final ReceiveWindow window, final Signals signals) {
        this.initial = initial;
        this.max = Math.max(initial, max);
        this.window = window;
        this.signals = signals;
    }

    /**
     * Reader, once, when the connection is ready (before any stream): a PING to measure the link's round trip
     * while nothing is queued on it. Taken from the first sample under load instead, the round trip included
     * the queue of the initial window (on a 2 ms link at 125 MB/s, 1 MiB: 8.4 ms), and the window grew to
     * match it for good (issue 13's call latency at 2 ms). One only: a chain of four (the first pays for cold
     * code) kept PONGs in flight while a server closed, and its client saw a reset instead of a close; the
     * drain after start-up corrects a slow first one.
     */
    void start(final long now) {
        ping(now, true, true);
    }

    /**
     * Reader context, {@link #RECHECK_NANOS} after {@link #start}: if the first PING's round trip said a link
     * of {@link SendBudget#SMALL_PACKETS_ROUND_TRIP_NANOS} or more and no stream data has come since, one more
     * PING measures the link, on the control lane. The first often pays for a JVM that is still compiling
     * (1.8-7.9 ms on loopback in the demo, and a second sent right after its answer 1.6-1.8 ms), and
     * loopback then counted as a long link until a sample under 1 ms came, which with busy streams may be
     * never: packets went down to 8 KiB, the window and the send buffer up, and the demo's calls waited
     * longer with auto-tuning than without it. A long link only confirms its round trip.
     */
    void recheck(final long now) {
        if (lastData == Long.MIN_VALUE && !pingOut && minRtt >= SendBudget.SMALL_PACKETS_ROUND_TRIP_NANOS) {
            ping(now, true, false);
        }
    }

    /**
     * Sends a PING at {@code now}; {@code idle}: it measures the link with nothing queued (see {@link #start});
     * {@code first}: the connection's first, which goes behind what is queued.
     */
    private void ping(final long now, final boolean idle, final boolean first) {
        pinged = true;
        pingOut = true;
        pingIdle = idle;
        pingSent = now;
        pingToken = now;
        receivedAtPing = received;
        signals.sendPing(pingToken, first);
    }

    /**
     * Reader: a stream packet of {@code frameLength} bytes arrived at {@code now} (System.nanoTime); the
     * applications have consumed {@code consumed} bytes of packet cost on this connection so far.
     */
    void onData(final long consumed, final int frameLength, final long now) {
        if (lastData != Long.MIN_VALUE && now - lastData > IDLE_NANOS) {
            restart();
        }
        lastData = now;
        received = consumed;
        if (restoreTo > 0) {
            restore(now);
        }
        largestSeen = Math.max(largestSeen, frameLength);
        if (pingOut && now - pingSent > PING_GIVE_UP_NANOS) {
            pingOut = false;
        }
        if (!pingOut && (!pinged || now - pingSent >= MIN_PING_INTERVAL)) {
            ping(now, false, false);
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
        if (restoreTo > 0) {
            // a sample that began while the window was going back after a drain: it judges no window
            restoreAt = now - Math.max(minRtt, 1); // all of it now
            restore(now);
            skip = 0; // this was the sample to skip
            return;
        }
        if (pingIdle) { // the link's own round trip (see start)
            if (rtt <= minRtt) {
                minRtt = rtt;
                minRttAt = now;
            }
            return;
        }
        final long bytes = received - receivedAtPing;
        if (largestSeen > 0) {
            unit = Math.max(MIN_UNIT, Math.min(StreamFlowControl.FULL_PACKET_COST, largestSeen));
            largestSeen = 0;
        }
        samples++;
        if (draining > 0) {
            if (--draining > 0) {
                return; // began before the peer had the drained window
            }
            if (rtt <= 2 * minRtt + QUEUE_SLACK_NANOS
                    || (drainMisses > 0 && now - firstDrainMiss >= 3 * FILTER_NANOS)) {
                drainMisses = 0;
                minRtt = rtt; // the link's round trip now, with the queue drained: longer or shorter than before
                minRttAt = now;
            } else {
                // A thread that waited for a CPU, most likely (on loopback under load, for seconds on end):
                // taken, it made the window grow past what the link needs. Measure again in a second; a link
                // whose round trip really more than doubled is taken after 30 s of such drains.
                if (drainMisses++ == 0) {
                    firstDrainMiss = now;
                }
                minRttAt = now - FILTER_NANOS + DRAIN_RETRY_NANOS;
            }
            // The drain was a measurement: the window goes back to what it was, and the samples that follow
            // judge it against the new round trip (a queue shrinks it to the estimate, room grows it).
            if (beforeDrain > window.current()) {
                skip = 1;
                restoreTo = beforeDrain;
                restoreFrom = window.current();
                restoreAt = now;
                restore(now);
            }
            return;
        } else if (rtt <= minRtt) {
            minRtt = rtt;
            minRttAt = now;
        } else if ((drainNext || now - minRttAt > FILTER_NANOS) && bytes >= window.current() / 4 && !shortLink()) {
            // (only while the streams move: with readers that stopped, no sample would come to end the drain,
            // and the window would stay cut)
            // The smallest round trip is old (or start-up just filled the pipe: the round trips it saw
            // included the initial window's queue, and the first PING's answer may have waited behind the
            // first stream's data). Taking this sample instead would take whatever queue it found
            // for the link's (and then the window would grow into that queue, and the next expiry take a
            // longer one: calls later every 10 s). So first drain: three quarters of the product for a round
            // trip (the product itself left the estimate's own excess queued, and the next smallest with it),
            // a quarter of a round trip's data every 10 s.
            drainNext = false;
            final long drained = Math.max(2 * unit, wholePackets((long) Math.ceil(rateEstimate() * minRtt * 0.75 / 1e9)));
            if (drained < window.current()) {
                // A later probe under way ends here, and the drain restores the window it began from: its
                // growth had not shown a rate that followed, and restored, the queue it made stayed until
                // three samples found it (the two timers run alike, so the two often meet: 6 December)
                restoreTo = 0;
                beforeDrain = window.current();
                if (probing && !startup && probeFrom > 0) {
                    beforeDrain = Math.min(probeFrom, beforeDrain);
                    probedAt = now; // the next probe in 10 s
                }
                probeFrom = 0;
                draining = 2;
                probing = false;
                flat = 0;
                setWindow(drained);
                return;
            }
            minRtt = rtt; // nothing to drain: the window is already at most the product
            minRttAt = now;
        }
        final double rate = bytes * 1e9 / rtt;
        final long current = window.current();
        if (rtt > 2 * minRtt + QUEUE_SLACK_NANOS) {
            // A stall (a thread that waited for a CPU, a link that stopped), or a queue longer than the link's
            // round trip (the initial window on a short link): no reason to grow, and its rate is not a
            // largest one; but a queue that stays is one, and the rate it delivered is the link's.
            rates[rateCount++ % rates.length] = rate;
            queued = ownQueue(current, 2 * QUEUE_SLACK_NANOS) ? queued + 1 : 0;
            if (skip > 0) {
                skip--;
            } else if (queued >= 3) {
                final long target = Math.min(max, Math.max(shortLink() ? initial : 2 * unit, estimate()));
                if (target <= current - unit) {
                    setWindow(target);
                }
            }
            return;
        }
        if (rate >= maxRate || now - maxRateAt > FILTER_NANOS) {
            maxRate = rate;
            maxRateAt = now;
        }
        rates[rateCount++ % rates.length] = rate;
        final long estimate = estimate();
        if (skip > 0) {
            skip--; // the window the last growth granted had not reached the sender when this sample began
            return;
        }
        // A queue (the bottleneck's, the kernels') lengthens the round trip: without one, the link has room.
        // Two thresholds: room (grow) below half a millisecond of queue, a queue (shrink, after three in a
        // row) above a millisecond, and in between the window holds: with one threshold, a scheduler's
        // jitter on a busy machine shrank the window below the product, the rates it then measured were
        // lower, and so was the next estimate.
        final boolean queue = rtt > minRtt + minRtt / 128 + 2 * QUEUE_SLACK_NANOS
                && ownQueue(current, 2 * QUEUE_SLACK_NANOS);
        final boolean room = rtt <= minRtt + minRtt / 256 + QUEUE_SLACK_NANOS;
        queued = queue ? queued + 1 : 0;
        // The window was the limit: most of it arrived within the round trip (else the writers were), and
        // this rate over the link's round trip fills most of it (else a slow round trip, a thread that waited
        // for a CPU, made the window look full: on loopback under load the window grew to 4 MiB and calls
        // waited behind it, issue 13's "window auto-tuning hurts loopback fairness").
        final boolean windowLimited = bytes >= current / 2 && rate * minRtt / 1e9 >= current / 2.0;
        long target = estimate;
        if (probing) {
            // start-up doubles and wants the rate up by 1/4; a later probe steps by at most a quarter
            // (PROBE_QUEUE_NANOS of the link's rate) and wants the rate up by half its step
            final long step = startup ? current : probeStep(current);
            final double follows = startup ? 1.25 : 1 + step / (2.0 * current);
            // Start-up asks no room of a round trip: each doubling releases a window's worth of credit at
            // once, which the sender sends at once, so the samples after it find that burst queued at the
            // bottleneck (2 MiB at 125 MB/s: 16 ms) whatever the link's capacity; asked for room, start-up
            // ended at 2-4 MiB on a 50 ms link that carries 6.3 MB, and the window crept up from there for
            // seconds (`braid get` at 50 ms: 64-78 MiB/s against 95 when start-up found the link). The rate
            // is what tells: it follows a window below the product and stops at the link's.
            if (windowLimited && (startup || room) && (rateAtGrowth == 0 || maxRate >= rateAtGrowth * follows)) {
                // the rate the next growth must beat by 1/4: at most what this window carries over the link's
                // round trip (a sample in which the reader caught up on data that came before it, as the
                // first ones of four streams opening do, measured 36 MB/s under a 1 MiB window at 50 ms, and
                // the doubled window's 41 MB/s then did not "follow": start-up ended at 2.6 MB of 6.3)
                rateAtGrowth = Math.min(maxRate, current * 1e9 / minRtt);
                flat = 0;
                rateCount = 0; // the rates at the old window say nothing of the new one
                if (!startup && probeFrom == 0) {
                    probeFrom = current;
                }
                target = Math.max(estimate, current + step);
            } else if (++flat >= 2) {
                probing = false; // twice the rate did not follow the window: the pipe is full
                probeFrom = 0;
                drainNext = startup; // and measure the link's round trip under it (see the drain above)
                startup = false;
                probedAt = now;
            }
        } else if (now - probedAt > FILTER_NANOS) {
            probing = true; // look again now and then: the link may carry more than it did
            rateAtGrowth = 0;
            flat = 0;
        }
        if (!room) {
            roomRun = 0;
        } else if (!probing && windowLimited) {
            // Room: one more packet, then two, four...: near the product a packet at a time (what it puts in
            // the queue when the link is full is one packet), but a window far below it (a start-up probe
            // that ended early, a link that got faster) gets there in a few round trips, not hundreds (with
            // 32 KiB packets, a packet a round trip took 7 s from 2.6 to 6.3 MB at 50 ms).
            final long step = Math.min(Math.max(unit, current / 4), unit << Math.min(roomRun++, 20));
            target = Math.max(estimate, current + step);
        }
        // Below the initial window only with evidence: a queue that stayed (the product is smaller than the
        // initial window: a 2 ms link at 125 MB/s carries 250 KB), or a window already there.
        // On a short link (loopback, a LAN) neither below nor above it: there the round trip is the CPUs'
        // (a thread waiting for one), not the link's, so rate x round trip measured how busy the machine was
        // and the window grew to 2-3 MiB on loopback with every call waiting behind it, for no throughput
        // (issue 12's fairness, the demo's p99: FairnessRatioProbe, 5 December). The initial window carries
        // 1 GB/s at a 1 ms round trip.
        final long lower = !shortLink() && (queued >= 3 || current < initial) ? 2 * unit : initial;
        target = Math.min(shortLink() ? initial : max, Math.max(lower, wholePackets(target)));
        if (target > current && windowLimited) { // grow only a window the applications used
            skip = 1;
            setWindow(target);
        } else if (target <= current - unit && (queued >= 3 || !windowLimited)) {
            setWindow(target); // a queue stayed, or the writers do not use the window: back to the estimate
        }
    }

    /**
     * How much a later probe grows a window of {@code current} bytes by: a quarter of it, or what the link
     * carries in {@link #PROBE_QUEUE_NANOS} if that is less, in whole packets, one at least.
     */
    private long probeStep(final long current) {
        final long quarter = wholePackets(current / 4);
        final long timed = wholePackets((long) Math.ceil(rateEstimate() * PROBE_QUEUE_NANOS / 1e9));
        return Math.max(unit, Math.min(quarter, timed));
    }

    /**
     * The target window: the product in whole packets, plus two (what the receiver holds until a packet is
     * consumed and credited, and the credit a sender waits to fill a packet: in no queue).
     */
    private long estimate() {
        return wholePackets((long) Math.ceil(rateEstimate() * minRtt / 1e9)) + 2 * unit;
    }

    /**
     * A link under {@link SendBudget#SMALL_PACKETS_ROUND_TRIP_NANOS} (loopback, a LAN): no drains, and no
     * window below the initial one there (the CI's loopback stream benchmarks lost three quarters of their
     * download throughput to them); its round trips are the CPUs' more than the link's.
     */
    private boolean shortLink() {
        return minRtt < SendBudget.SMALL_PACKETS_ROUND_TRIP_NANOS;
    }

    /**
     * Whether a window of {@code window} bytes can queue more than {@code nanos} beyond the link's round
     * trip: what it holds beyond the product, over the rate (both estimated). A round trip lengthened
     * by more than that is not this window's queue (a thread that waited for a CPU: on loopback under load
     * every other sample), and shrinking the window would not shorten it, only slow the streams.
     */
    private boolean ownQueue(final long window, final long nanos) {
        final double rate = rateEstimate();
        final double product = rate * minRtt / 1e9;
        return rate > 0 && (window - product) / rate * 1e9 > nanos;
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

    /** Reader (tests): whether a later probe (not start-up's) is under way. */
    boolean laterProbe() {
        return probing && !startup;
    }

    private void restart() {
        // minRtt stays: the link's round trip is measured at start and by the drains, while the first sample
        // after an idle period finds the queue of the initial window (see start); a shorter one replaces
        // it at once, a longer one at the next drain
        maxRate = 0;
        pingOut = false;
        probing = true;
        probeFrom = 0;
        restoreTo = 0;
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

    /**
     * A restore under way (see {@link #RESTORE_STEPS}): the window due at {@code now}, a straight line from
     * {@code restoreFrom} to {@code restoreTo} over the link's round trip, set when it is a step (an eighth
     * of the way, a packet at least) above the window, or the end.
     */
    private void restore(final long now) {
        final long gap = restoreTo - restoreFrom;
        final double done = Math.min(1.0, Math.max(0.0, (double) (now - restoreAt) / Math.max(minRtt, 1)));
        final long step = Math.max(unit, gap / RESTORE_STEPS);
        final long due = restoreFrom + (long) ((done + 1.0 / RESTORE_STEPS) * gap); // the first step at once
        if (due >= restoreTo) {
            final long to = restoreTo;
            restoreTo = 0;
            if (to > window.current()) {
                setWindow(to);
            }
        } else if (due >= window.current() + step) {
            setWindow(due / unit * unit);
        }
    }

    private void setWindow(final long w) {
        if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
            LOG.log(System.Logger.Level.DEBUG, String.format("window %d -> %d bytes: round trip %.2f ms, rate %.1f MB/s, "
                    + "packets of %d bytes%s%s", window.current(), w, minRtt / 1e6, rateEstimate() / 1e6, unit,
                    probing ? (startup ? ", starting" : ", probing") : "", draining > 0 ? ", draining" : restoreTo > 0 ? ", restoring" : ""));
        }
        window.set(w);
        signals.sendWindow(w);
    }

    /** {@code bytes} rounded up to whole packets of the peer's current size ({@link #unit}). */
    private long wholePackets(final long bytes) {
        return (Math.max(bytes, 0) + unit - 1) / unit * unit;
    }
}
