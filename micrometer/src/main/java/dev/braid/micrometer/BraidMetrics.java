package dev.braid.micrometer;

import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidObserver;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionStats;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;

import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * A {@link BraidObserver} that records braid's events into a Micrometer {@link MeterRegistry}. Pass it to
 * {@link BraidConfig#observer(BraidObserver)}; one instance may serve several {@code Braid}s (their meters
 * add up). Use one instance per registry: Micrometer keeps the first of two gauges with the same name and
 * tags, so a second instance's gauges would not be seen.
 *
 * <pre>{@code
 * BraidMetrics metrics = new BraidMetrics(registry);
 * Braid braid = Braid.create(new BraidConfig().observer(metrics));
 * }</pre>
 *
 * <h2>Meters</h2>
 * Every meter has a {@code side} tag ({@code client} or {@code server}).
 * <table>
 *   <caption>braid's meters</caption>
 *   <tr><th>name</th><th>type</th><th>more tags</th><th>what</th></tr>
 *   <tr><td>{@code braid.calls}</td><td>function timer (a timer with {@code fullTimers})</td>
 *       <td>procedure, outcome</td><td>calls by how they ended ({@code ok}, {@code error}, {@code timeout},
 *       {@code cancelled}, {@code closed}, {@code protocol_error}), with their latency</td></tr>
 *   <tr><td>{@code braid.call.request.bytes}, {@code braid.call.reply.bytes}</td><td>function counter</td>
 *       <td>procedure</td><td>bytes of the calls' and answers' frames (with {@code fullTimers} only)</td></tr>
 *   <tr><td>{@code braid.bytes}</td><td>function counter</td><td>direction ({@code read}, {@code written})
 *       </td><td>bytes of every connection, closed ones included (from their counters: no cost per
 *       call)</td></tr>
 *   <tr><td>{@code braid.streams}</td><td>timer</td><td>procedure, outcome ({@code finished},
 *       {@code aborted})</td><td>streams by how they ended, with their duration</td></tr>
 *   <tr><td>{@code braid.stream.bytes}</td><td>counter</td><td>procedure, direction ({@code sent},
 *       {@code received})</td><td>payload bytes of ended streams</td></tr>
 *   <tr><td>{@code braid.connections.opened}, {@code braid.connections.closed}</td><td>counter</td>
 *       <td>reason (closed)</td><td>connections opened; closed by reason</td></tr>
 *   <tr><td>{@code braid.limit.refusals}</td><td>counter</td><td>limit</td><td>what limits refused</td></tr>
 *   <tr><td>{@code braid.protocol.errors}</td><td>counter</td><td></td><td>peers that broke the protocol</td></tr>
 *   <tr><td>{@code braid.read.suspensions}</td><td>timer</td><td>reason</td><td>times reading stopped,
 *       with how long (recorded when reading resumes)</td></tr>
 *   <tr><td>{@code braid.connections}</td><td>gauge</td><td></td><td>connections open now</td></tr>
 *   <tr><td>{@code braid.calls.in.flight}, {@code braid.streams.open}</td><td>gauge</td><td></td>
 *       <td>calls and streams in progress now</td></tr>
 *   <tr><td>{@code braid.stream.receive.window}, {@code braid.stream.send.credit}</td><td>gauge</td><td></td>
 *       <td>the windows this side grants its open streams, and the credit the peers' windows leave it
 *       (bytes)</td></tr>
 *   <tr><td>{@code braid.stream.queued.bytes}</td><td>gauge</td><td>direction</td><td>bytes received and
 *       not read yet ({@code received}) or written and not sent yet ({@code sent}) on open streams</td></tr>
 *   <tr><td>{@code braid.outbound.queued.bytes}</td><td>gauge</td><td></td><td>bytes waiting for the
 *       socket in the connections' outbound lanes</td></tr>
 * </table>
 * The gauges read {@link Peer#stats()} of every open connection when the registry samples them (so the
 * cost is per sample and per connection, never per call).
 *
 * <h2>Cost</h2>
 * Per call, on the thread that ended it: a look in a small array indexed by the procedure's number (the
 * map keyed by {@link Procedure} only when a procedure is new or shares its slot), an array read for the
 * side and outcome, and two {@link LongAdder} additions (count and latency), which the registry reads when
 * it samples; nothing for {@code callStarted}; with {@code fullTimers}, a Micrometer timer's record instead, and two more additions for the
 * procedure's bytes. Meters are created the first time a procedure, outcome, limit or reason is seen, never after.
 *
 * <h2>Threads</h2>
 * Thread-safe, as braid calls an observer from many threads (see {@link BraidObserver}).
 */
public final class BraidMetrics implements BraidObserver {
    private static final String[] SIDES = {"client", "server"};
    private static final int OUTCOMES = CallOutcome.values().length;

    private final MeterRegistry registry;
    private final boolean fullTimers;
    private final Function<Procedure, String> procedureName;
    private final ConcurrentHashMap<Procedure, ProcedureMeters> procedures = new ConcurrentHashMap<>();
    /** Size of {@link #recent}, a power of two. */
    private static final int RECENT = 64;
    /** The meters last used, by procedure number modulo {@link #RECENT} (see {@link #meters}). */
    private final ProcedureMeters[] recent = new ProcedureMeters[RECENT];
    /** Open connections, per side, for the gauges. */
    private final java.util.List<Set<Peer>> open = java.util.List.of(ConcurrentHashMap.newKeySet(),
            ConcurrentHashMap.newKeySet());
    private final Counter[] opened = new Counter[2];
    private final Counter[] protocolErrors = new Counter[2];
    private final ConcurrentHashMap<String, Counter> closed = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> refusals = new ConcurrentHashMap<>();
    private final Timer[][] suspensions = new Timer[2][Suspension.values().length];
    /** Bytes read and written by connections that closed, per side: [side * 2 + (0 read, 1 written)]. */
    private final LongAdder[] closedBytes = {new LongAdder(), new LongAdder(), new LongAdder(), new LongAdder()};

    /**
     * Meters in {@code registry}, procedures named by their {@link Procedure#toString()} (for example
     * {@code 0x20008086/1/1}).
     *
     * @param registry where the meters go
     */
    public BraidMetrics(final MeterRegistry registry) {
        this(registry, Procedure::toString);
    }

    /**
     * Meters in {@code registry}, with the {@code procedure} tag's value given by {@code procedureName}
     * (called once per procedure and side; keep the number of distinct names bounded).
     *
     * @param registry      where the meters go
     * @param procedureName the tag value for a procedure, for example its name in the application's protocol
     */
    public BraidMetrics(final MeterRegistry registry, final Function<Procedure, String> procedureName) {
        this(registry, procedureName, false);
    }

    /**
     * Meters in {@code registry}; with {@code fullTimers}, {@code braid.calls} is a Micrometer {@link Timer}
     * (a maximum, and percentiles or histograms if a {@code MeterFilter} asks for them) rather than a
     * {@link FunctionTimer} over two adders (count and total time: the rate and the mean latency, at a
     * fraction of the cost per call), and each procedure's request and reply bytes are counted.
     *
     * @param registry      where the meters go
     * @param procedureName the tag value for a procedure
     * @param fullTimers    whether calls get full timers
     */
    public BraidMetrics(final MeterRegistry registry, final Function<Procedure, String> procedureName,
                        final boolean fullTimers) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.procedureName = Objects.requireNonNull(procedureName, "procedureName");
        this.fullTimers = fullTimers;
        for (int side = 0; side < 2; side++) {
            final Tags tags = Tags.of("side", SIDES[side]);
            final Set<Peer> peers = open.get(side);
            opened[side] = Counter.builder("braid.connections.opened").tags(tags)
                    .description("connections opened").register(registry);
            protocolErrors[side] = Counter.builder("braid.protocol.errors").tags(tags)
                    .description("peers that broke the protocol (their connection was closed)").register(registry);
            for (Suspension s : Suspension.values()) {
                suspensions[side][s.ordinal()] = Timer.builder("braid.read.suspensions").tags(tags)
                        .tag("reason", s.name().toLowerCase(java.util.Locale.ROOT))
                        .description("times a connection stopped reading its socket, and for how long")
                        .register(registry);
            }
            final int sideIndex = side;
            FunctionCounter.builder("braid.bytes", peers, ps -> bytes(ps, sideIndex, 0)).baseUnit("bytes")
                    .tags(tags).tag("direction", "read").description("bytes read from the sockets")
                    .register(registry);
            FunctionCounter.builder("braid.bytes", peers, ps -> bytes(ps, sideIndex, 1)).baseUnit("bytes")
                    .tags(tags).tag("direction", "written").description("bytes written to the sockets")
                    .register(registry);
            Gauge.builder("braid.connections", peers, Set::size).tags(tags)
                    .description("connections open now").register(registry);
            gauge("braid.calls.in.flight", tags, peers, ConnectionStats::callsInFlight,
                    "calls sent and not answered (client) or received and not answered (server)");
            gauge("braid.streams.open", tags, peers, ConnectionStats::streamsOpen, "streams holding a slot");
            gauge("braid.stream.receive.window", tags, peers, ConnectionStats::streamReceiveWindow,
                    "bytes of window this side grants its open streams");
            gauge("braid.stream.send.credit", tags, peers, ConnectionStats::streamSendCredit,
                    "bytes the peers' windows still let this side send on its open streams");
            gauge("braid.stream.queued.bytes", tags.and("direction", "received"), peers,
                    ConnectionStats::streamQueuedBytes, "bytes received on open streams and not read yet");
            gauge("braid.stream.queued.bytes", tags.and("direction", "sent"), peers,
                    ConnectionStats::streamSendQueuedBytes, "bytes written on open streams and not sent yet");
            gauge("braid.outbound.queued.bytes", tags, peers, ConnectionStats::outboundQueuedBytes,
                    "bytes waiting for the socket in the connections' outbound lanes");
        }
    }

    /** Bytes read (0) or written (1) on {@code side}: the closed connections' and the open ones' counters. */
    private double bytes(final Set<Peer> peers, final int side, final int direction) {
        long sum = closedBytes[side * 2 + direction].sum();
        for (Peer p : peers) {
            final ConnectionStats cs = p.stats();
            sum += direction == 0 ? cs.bytesRead() : cs.bytesWritten();
        }
        return sum;
    }

    private void gauge(final String name, final Tags tags, final Set<Peer> peers,
                       final ToLongFunction<ConnectionStats> field, final String description) {
        Gauge.builder(name, peers, ps -> {
            long sum = 0;
            for (Peer p : ps) {
                sum += field.applyAsLong(p.stats());
            }
            return sum;
        }).tags(tags).description(description).register(registry);
    }

    /** A count and a total, read by a {@link FunctionTimer} or two {@link FunctionCounter}s. */
    private static final class Tally {
        final LongAdder count = new LongAdder();
        final LongAdder total = new LongAdder();

        double count() {
            return count.sum();
        }

        double total() {
            return total.sum();
        }
    }

    /** The meters of one procedure, created on first use of each side and outcome. */
    private final class ProcedureMeters {
        private final Procedure procedure;
        /** [side * OUTCOMES + outcome]: count and total latency (fast mode). */
        private final AtomicReferenceArray<Tally> calls = new AtomicReferenceArray<>(2 * OUTCOMES);
        /** [side * OUTCOMES + outcome]: full timers. */
        private final AtomicReferenceArray<Timer> timers = new AtomicReferenceArray<>(2 * OUTCOMES);
        /** [side]: request bytes (count) and reply bytes (total). */
        private final AtomicReferenceArray<Tally> callBytes = new AtomicReferenceArray<>(2);
        /** [side * 2 + (0 finished, 1 aborted)]. */
        private final AtomicReferenceArray<Timer> streams = new AtomicReferenceArray<>(4);
        /** [side * 2 + (0 sent, 1 received)]. */
        private final AtomicReferenceArray<Counter> streamBytes = new AtomicReferenceArray<>(4);

        ProcedureMeters(final Procedure procedure) {
            this.procedure = procedure;
        }

        private Tags tags(final int side) {
            return Tags.of("side", SIDES[side], "procedure", procedureName.apply(procedure));
        }

        private String outcome(final CallOutcome outcome) {
            return outcome.name().toLowerCase(java.util.Locale.ROOT);
        }

        Tally call(final int side, final CallOutcome outcome) {
            final int i = side * OUTCOMES + outcome.ordinal();
            final Tally t = calls.get(i);
            if (t != null) {
                return t;
            }
            final Tally fresh = new Tally();
            if (calls.compareAndSet(i, null, fresh)) {
                FunctionTimer.builder("braid.calls", fresh, x -> x.count.sum(), Tally::total, TimeUnit.NANOSECONDS)
                        .tags(tags(side)).tag("outcome", outcome(outcome))
                        .description("calls by outcome, with their latency").register(registry);
            }
            return calls.get(i);
        }

        Timer timer(final int side, final CallOutcome outcome) {
            final int i = side * OUTCOMES + outcome.ordinal();
            final Timer t = timers.get(i);
            if (t != null) {
                return t;
            }
            timers.compareAndSet(i, null, Timer.builder("braid.calls").tags(tags(side)).tag("outcome", outcome(outcome))
                    .description("calls by outcome, with their latency").register(registry));
            return timers.get(i);
        }

        Tally callBytes(final int side) {
            final Tally t = callBytes.get(side);
            if (t != null) {
                return t;
            }
            final Tally fresh = new Tally();
            if (callBytes.compareAndSet(side, null, fresh)) {
                FunctionCounter.builder("braid.call.request.bytes", fresh, Tally::count).baseUnit("bytes")
                        .tags(tags(side)).description("bytes of call frames").register(registry);
                FunctionCounter.builder("braid.call.reply.bytes", fresh, Tally::total).baseUnit("bytes")
                        .tags(tags(side)).description("bytes of answer frames").register(registry);
            }
            return callBytes.get(side);
        }

        Timer stream(final int side, final boolean aborted) {
            final int i = side * 2 + (aborted ? 1 : 0);
            final Timer t = streams.get(i);
            if (t != null) {
                return t;
            }
            streams.compareAndSet(i, null, Timer.builder("braid.streams").tags(tags(side))
                    .tag("outcome", aborted ? "aborted" : "finished")
                    .description("streams by outcome, with their duration").register(registry));
            return streams.get(i);
        }

        Counter streamBytes(final int side, final int which) {
            final int i = side * 2 + which;
            final Counter c = streamBytes.get(i);
            if (c != null) {
                return c;
            }
            streamBytes.compareAndSet(i, null, Counter.builder("braid.stream.bytes").baseUnit("bytes")
                    .tags(tags(side)).tag("direction", which == 0 ? "sent" : "received")
                    .description("payload bytes of ended streams").register(registry));
            return streamBytes.get(i);
        }
    }

    /**
     * The meters of {@code p}: first from {@link #recent}, a direct-mapped cache indexed by the procedure's
     * number (an identity check, then {@code equals}; no hashing, no allocation), else from the map, which
     * then replaces the cache's entry. The cache's entries are written and read without synchronization: a
     * {@code ProcedureMeters} has only final fields, so a thread that sees one sees it whole, and a stale or
     * missing entry only sends that thread to the map.
     */
    private ProcedureMeters meters(final Procedure p) {
        final int i = p.procedure() & (RECENT - 1);
        final ProcedureMeters m = recent[i];
        if (m != null && (m.procedure == p || m.procedure.equals(p))) {
            return m;
        }
        return metersSlow(p, i);
    }

    private ProcedureMeters metersSlow(final Procedure p, final int i) {
        ProcedureMeters m = procedures.get(p);
        if (m == null) {
            m = procedures.computeIfAbsent(p, ProcedureMeters::new);
        }
        recent[i] = m;
        return m;
    }

    @Override
    public void connectionOpened(final Peer connection, final Side side) {
        open.get(side.ordinal()).add(connection);
        opened[side.ordinal()].increment();
    }

    @Override
    public void connectionClosed(final Peer connection, final Side side, final ConnectionClosedException reason) {
        if (open.get(side.ordinal()).remove(connection)) {
            final ConnectionStats cs = connection.stats();
            closedBytes[side.ordinal() * 2].add(cs.bytesRead());
            closedBytes[side.ordinal() * 2 + 1].add(cs.bytesWritten());
        }
        final String key = side.ordinal() + reason.reason().name();
        Counter c = closed.get(key);
        if (c == null) {
            c = closed.computeIfAbsent(key, k -> Counter.builder("braid.connections.closed")
                    .tags("side", SIDES[side.ordinal()], "reason",
                            reason.reason().name().toLowerCase(java.util.Locale.ROOT))
                    .description("connections closed, by reason").register(registry));
        }
        c.increment();
    }

    @Override
    public void callEnded(final Peer connection, final Side side, final Procedure procedure, final int serial,
                          final CallOutcome outcome, final long latencyNanos, final long requestBytes,
                          final long replyBytes) {
        final ProcedureMeters m = meters(procedure);
        final int s = side.ordinal();
        if (fullTimers) {
            m.timer(s, outcome).record(latencyNanos, TimeUnit.NANOSECONDS);
        } else {
            final Tally t = m.call(s, outcome);
            t.count.increment();
            t.total.add(latencyNanos);
        }
        if (fullTimers) { // per-procedure bytes: two more adders per call, so only in the detailed form
            final Tally bytes = m.callBytes(s);
            bytes.count.add(requestBytes); // the request bytes (a counter read by FunctionCounter)
            bytes.total.add(replyBytes);
        }
    }

    @Override
    public void streamEnded(final Peer connection, final Side side, final Procedure procedure, final int serial,
                            final long bytesSent, final long bytesReceived, final long durationNanos,
                            final BraidException abortReason) {
        final ProcedureMeters m = meters(procedure);
        final int s = side.ordinal();
        m.stream(s, abortReason != null).record(durationNanos, TimeUnit.NANOSECONDS);
        m.streamBytes(s, 0).increment(bytesSent);
        m.streamBytes(s, 1).increment(bytesReceived);
    }

    @Override
    public void limitRefused(final Peer connection, final Side side, final String limit, final long value,
                             final String detail) {
        final String key = side.ordinal() + limit;
        Counter c = refusals.get(key);
        if (c == null) {
            c = refusals.computeIfAbsent(key, k -> Counter.builder("braid.limit.refusals")
                    .tags("side", SIDES[side.ordinal()], "limit", limit)
                    .description("calls, events, streams or messages refused by a limit").register(registry));
        }
        c.increment();
    }

    @Override
    public void protocolError(final Peer connection, final Side side, final ProtocolException error) {
        protocolErrors[side.ordinal()].increment();
    }

    @Override
    public void readResumed(final Peer connection, final Side side, final Suspension reason,
                            final long suspendedNanos) {
        suspensions[side.ordinal()][reason.ordinal()].record(suspendedNanos, TimeUnit.NANOSECONDS);
    }
}
