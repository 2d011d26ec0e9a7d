package dev.braid.stress;

import dev.braid.tooling.Durations;
import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.Procedure;
import dev.braid.ReplyHandler;
import dev.braid.StreamOptions;
import dev.braid.stress.link.FrameCut;
import dev.braid.stress.link.LinkSpec;
import dev.braid.stress.link.RelayConnection;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * The {@code wan} scenario's faults, each on a fresh pair of {@code Braid}s over a fresh link:
 * <ul>
 *   <li><b>blackhole</b>: with calls (futures and a {@link ReplyHandler}) waiting on the server, two downloads
 *   and two uploads running, the link drops everything. The client's keepalive must close the connection
 *   ({@code PEER_NOT_RESPONDING}) within protocol.md's {@code (count + 1) x interval} plus one interval of
 *   slack; every call and every stream must fail exactly once; afterwards nothing stays lent out of either
 *   pool and no braid thread outlives the {@code Braid}s.</li>
 *   <li><b>stall</b>: checksummed streams both ways and a caller; the link stops for {@code --stall}, then
 *   resumes. Every stream must arrive intact and every call be answered.</li>
 *   <li><b>reset mid-frame</b> (relay form): the same work in flight; the relay cuts the server-to-client
 *   direction strictly inside a frame of at least 64 KiB and resets both sides. Everything in flight must
 *   fail exactly once (connection closed), both sides must drop the connection, nothing may leak.</li>
 * </ul>
 * One thread (the scenario's) drives each; the work runs on virtual threads and braid's.
 */
final class WanFaults {
    static final Procedure SLOW = Procedure.of(0x77616e00, 1, 10);

    private final PrintStream out;
    private final Verdict verdict;
    private final WanScenario scenario;

    WanFaults(final PrintStream out, final Verdict verdict, final WanScenario scenario) {
        this.out = out;
        this.verdict = verdict;
        this.scenario = scenario;
    }

    void run(final String form, final LinkSpec spec, final String backend) throws Exception {
        blackhole(form, spec, backend);
        stall(form, spec, backend);
        if (form.equals("relay")) {
            resetMidFrame(spec, backend);
        }
    }

    private WanLink link(final String form, final LinkSpec spec) throws java.io.IOException {
        return form.equals("ns") ? WanLink.namespace(spec, scenario.mtu, null) : WanLink.relay(spec);
    }

    private void blackhole(final String form, final LinkSpec spec, final String backend) throws Exception {
        final String tag = String.format(Locale.ROOT, "[%s %s %s blackhole]", form, Durations.format(spec.rtt()), backend);
        final Duration ka = Durations.parse(scenario.keepalive);
        final int count = scenario.keepaliveCount;
        final BraidConfig cfg = scenario.config(backend).keepaliveInterval(ka).keepaliveCount(count);
        final CountDownLatch release = new CountDownLatch(1);
        try (WanLink link = link(form, spec)) {
            final Braid serverBraid = Braid.create(scenario.config(backend).keepaliveInterval(ka).keepaliveCount(count));
            final Braid clientBraid = Braid.create(cfg);
            try {
                final BraidServer server = withSlow(scenario.register(serverBraid.server()), release).bind(link.bindAddress());
                final Connection c = clientBraid.connect(link.front(server.address()));
                final InFlight work = InFlight.start(c, scenario.chunk);
                Thread.sleep(500);
                final AtomicLong closedAt = new AtomicLong();
                c.closeFuture().whenComplete((e, t) -> closedAt.set(System.nanoTime()));
                final long t0 = System.nanoTime();
                link.controls().forEach(ctl -> ctl.blackhole(true));
                final Duration documented = ka.multipliedBy(count + 1);
                final Duration bound = documented.plus(ka).plusMillis(500);
                ConnectionClosedException closed = null;
                try {
                    closed = c.closeFuture().get(bound.toMillis() + 5_000, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    // reported below
                }
                final double detectedMs = closedAt.get() == 0 ? Double.NaN : (closedAt.get() - t0) / 1e6;
                verdict.check(closed != null && closed.reason() == ConnectionClosedException.Reason.PEER_NOT_RESPONDING
                                && detectedMs <= bound.toMillis(),
                        String.format(Locale.ROOT, "%s keepalive (%s x %d) closed the connection after %.0f ms: %s "
                                        + "(bound: PEER_NOT_RESPONDING within (count + 1) x interval = %d ms + one interval "
                                        + "+ 500 ms = %d ms)", tag, Durations.format(ka), count, detectedMs,
                                closed == null ? "not closed" : closed.reason(), documented.toMillis(), bound.toMillis()));
                work.checkAllFailedOnce(verdict, tag, Duration.ofSeconds(10), ConnectionClosedException.Reason.PEER_NOT_RESPONDING);
                link.controls().forEach(ctl -> ctl.blackhole(false));
                release.countDown();
                checkServerDropped(tag, server, Duration.ofSeconds(20));
                checkNoLeaks(tag, clientBraid, serverBraid);
            } finally {
                release.countDown();
                clientBraid.close();
                serverBraid.close();
            }
            checkThreads(tag);
        }
    }

    private void stall(final String form, final LinkSpec spec, final String backend) throws Exception {
        final String tag = String.format(Locale.ROOT, "[%s %s %s stall]", form, Durations.format(spec.rtt()), backend);
        final Duration stall = Durations.parse(scenario.stall);
        final ChecksummedStreams cs = new ChecksummedStreams(scenario.chunk);
        try (WanLink link = link(form, spec)) {
            final Braid serverBraid = Braid.create(scenario.config(backend));
            final Braid clientBraid = Braid.create(scenario.config(backend));
            try {
                final BraidServer server = cs.register(scenario.register(serverBraid.server())).bind(link.bindAddress());
                final Connection c = clientBraid.connect(link.front(server.address()));
                final long bytes = scenario.stallBytes;
                final LongAdder intact = new LongAdder();
                final List<String> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
                final List<Thread> movers = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    final int seed = 1000 + i;
                    final boolean up = i % 2 == 0;
                    movers.add(Thread.ofVirtual().name("wan-stall-" + i).start(() -> {
                        try {
                            final BraidStream s = ChecksummedStreams.open(c, up ? ChecksummedStreams.UP : ChecksummedStreams.DOWN,
                                    seed, bytes, 0, StreamOptions.DEFAULT);
                            if (up) {
                                cs.upload(s, seed, bytes);
                            } else {
                                ChecksummedStreams.download(s, seed, bytes);
                            }
                            intact.increment();
                        } catch (RuntimeException e) {
                            errors.add((up ? "upload " : "download ") + seed + ": " + e);
                        }
                    }));
                }
                final AtomicLong longestCall = new AtomicLong();
                final AtomicInteger callsOk = new AtomicInteger();
                final AtomicInteger callsFailed = new AtomicInteger();
                final java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
                final Thread caller = Thread.ofVirtual().name("wan-stall-caller").start(() -> {
                    final ByteBuffer args = ByteBuffer.allocate(scenario.payload);
                    final ByteBuffer reply = ByteBuffer.allocate(scenario.payload);
                    final CallOptions opts = CallOptions.timeout(Duration.ofSeconds(60));
                    while (!done.get()) {
                        final long t0 = System.nanoTime();
                        try {
                            c.call(WanScenario.PING, args.clear(), reply.clear(), opts);
                            callsOk.incrementAndGet();
                        } catch (BraidException e) {
                            callsFailed.incrementAndGet();
                            errors.add("call: " + e);
                        }
                        longestCall.accumulateAndGet(System.nanoTime() - t0, Math::max);
                    }
                });
                Thread.sleep(50); // streams open and start moving; a stall later could find them finished on a short link
                final long before = intact.sum();
                link.controls().forEach(ctl -> ctl.stall(stall));
                for (Thread t : movers) {
                    t.join(TimeUnit.SECONDS.toMillis(120) + stall.toMillis());
                }
                done.set(true);
                caller.join(TimeUnit.SECONDS.toMillis(60));
                verdict.check(before == 0, String.format(Locale.ROOT, "%s streams still moving when the link stalled: "
                        + "%d of 4 had finished (must be 0; raise --stall-bytes otherwise)", tag, before));
                verdict.check(intact.sum() == 4 && errors.isEmpty() && cs.serverMismatches.sum() == 0,
                        String.format(Locale.ROOT, "%s after a %s stall: streams intact (CRC32C) %d of 4, %d B each; calls "
                                        + "answered %d, failed %d; longest call %.0f ms; errors %s", tag,
                                Durations.format(stall), intact.sum(), bytes, callsOk.get(), callsFailed.get(),
                                longestCall.get() / 1e6, errors.isEmpty() ? "none" : errors));
                verdict.check(longestCall.get() >= stall.toNanos() / 2, String.format(Locale.ROOT,
                        "%s the stall was felt: longest call %.0f ms (bound >= half the stall, %d ms)", tag,
                        longestCall.get() / 1e6, stall.toMillis() / 2));
                c.close();
                checkServerDropped(tag, server, Duration.ofSeconds(10));
                checkNoLeaks(tag, clientBraid, serverBraid);
            } finally {
                clientBraid.close();
                serverBraid.close();
            }
            checkThreads(tag);
        }
    }

    private void resetMidFrame(final LinkSpec spec, final String backend) throws Exception {
        final String tag = String.format(Locale.ROOT, "[relay %s %s reset mid-frame]", Durations.format(spec.rtt()), backend);
        final CountDownLatch release = new CountDownLatch(1);
        try (WanLink link = WanLink.relay(spec)) {
            final Braid serverBraid = Braid.create(scenario.config(backend));
            final Braid clientBraid = Braid.create(scenario.config(backend));
            try {
                final BraidServer server = withSlow(scenario.register(serverBraid.server()), release).bind(link.bindAddress());
                final Connection c = clientBraid.connect(link.front(server.address()));
                final InFlight work = InFlight.start(c, scenario.chunk);
                Thread.sleep(500);
                final RelayConnection rc = link.lastRelay().awaitConnection(1, Duration.ofSeconds(5));
                final FrameCut cut = rc.resetMidFrame(RelayConnection.Direction.TO_CLIENT, 8_192).get(30, TimeUnit.SECONDS); // a stream packet: with auto-tuning they may be 8 KiB (docs/design.md §8, "Packet size")
                ConnectionClosedException closed = null;
                try {
                    closed = c.closeFuture().get(10, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    // reported below
                }
                verdict.check(cut.inside() && closed != null && closed.reason() == ConnectionClosedException.Reason.RESET,
                        String.format(Locale.ROOT, "%s cut at byte %,d, %,d bytes into a frame of %,d: client connection "
                                        + "closed: %s (must be RESET)", tag, cut.offset(), cut.offset() - cut.frameStart(),
                                cut.frameLength(), closed == null ? "not closed" : closed.reason()));
                work.checkAllFailedOnce(verdict, tag, Duration.ofSeconds(10), null);
                release.countDown();
                checkServerDropped(tag, server, Duration.ofSeconds(10));
                checkNoLeaks(tag, clientBraid, serverBraid);
            } finally {
                release.countDown();
                clientBraid.close();
                serverBraid.close();
            }
            checkThreads(tag);
        }
    }

    private static BraidServer.Builder withSlow(final BraidServer.Builder b, final CountDownLatch release) {
        return b.handle(SLOW, call -> {
            release.await(120, TimeUnit.SECONDS);
            call.reply(call.args());
        });
    }

    private void checkServerDropped(final String tag, final BraidServer server, final Duration max) throws InterruptedException {
        final long deadline = System.nanoTime() + max.toNanos();
        while (!server.connections().isEmpty() && System.nanoTime() - deadline < 0) {
            Thread.sleep(20);
        }
        verdict.check(server.connections().isEmpty(), String.format(Locale.ROOT,
                "%s server connections left open: %d (must be 0 within %s)", tag, server.connections().size(),
                Durations.format(max)));
    }

    private void checkNoLeaks(final String tag, final Braid client, final Braid server) throws InterruptedException {
        final long c = Threads.awaitNoOutstanding(client.bufferPool(), Duration.ofSeconds(10));
        final long s = Threads.awaitNoOutstanding(server.bufferPool(), Duration.ofSeconds(10));
        verdict.check(c == 0 && s == 0, String.format(Locale.ROOT,
                "%s pooled buffers outstanding once the connection is gone (Braids still open): client %d, server %d, must be 0",
                tag, c, s));
    }

    private void checkThreads(final String tag) throws InterruptedException {
        final int n = Threads.awaitBraidThreadsAtMost(0, Duration.ofSeconds(10));
        verdict.check(n == 0, String.format(Locale.ROOT, "%s braid threads alive after both Braids closed: %d, must be 0%s",
                tag, n, n == 0 ? "" : " " + Threads.braidNames()));
    }

    /**
     * Calls and streams in flight on one connection, each recording how it ended: 8 calls to SLOW as futures,
     * 8 through one {@link ReplyHandler} (braid promises one callback per call: counted per serial), 2
     * downloads and 2 uploads that move data until they fail (each records its first failure and stops).
     */
    static final class InFlight {
        private final List<CompletableFuture<?>> futures = new ArrayList<>();
        private final Map<Integer, AtomicInteger> handlerCallbacks = new ConcurrentHashMap<>();
        private final Map<Integer, BraidException> handlerErrors = new ConcurrentHashMap<>();
        private final AtomicInteger handlerReplies = new AtomicInteger();
        private final List<Thread> streamThreads = new ArrayList<>();
        private final List<AtomicReference<Throwable>> streamEnds = new ArrayList<>();
        private final List<AtomicInteger> streamFailures = new ArrayList<>();
        private int handlerCalls;

        static InFlight start(final Connection c, final int chunk) {
            final InFlight w = new InFlight();
            for (int i = 0; i < 8; i++) {
                w.futures.add(c.callAsync(SLOW, ByteBuffer.allocate(8), CallOptions.DEFAULT));
            }
            final ReplyHandler h = new ReplyHandler() {
                @Override
                public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                    w.handlerReplies.incrementAndGet();
                    w.handlerCallbacks.computeIfAbsent(serial, k -> new AtomicInteger()).incrementAndGet();
                }

                @Override
                public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                    w.handlerErrors.put(serial, error);
                    w.handlerCallbacks.computeIfAbsent(serial, k -> new AtomicInteger()).incrementAndGet();
                }
            };
            for (int i = 0; i < 8; i++) {
                c.callAsync(SLOW, ByteBuffer.allocate(8), CallOptions.DEFAULT, h);
                w.handlerCalls++;
            }
            for (int i = 0; i < 4; i++) {
                final boolean down = i < 2;
                final BraidStream s = c.openStream(down ? WanScenario.SOURCE : WanScenario.SINK, ByteBuffer.allocate(0),
                        StreamOptions.DEFAULT);
                final AtomicReference<Throwable> end = new AtomicReference<>();
                final AtomicInteger failures = new AtomicInteger();
                w.streamEnds.add(end);
                w.streamFailures.add(failures);
                w.streamThreads.add(Thread.ofVirtual().name("wan-fault-stream-" + i).start(() -> {
                    final ByteBuffer buf = ByteBuffer.allocateDirect(chunk);
                    try {
                        while (true) {
                            buf.clear();
                            if (down) {
                                if (s.read(buf) < 0) {
                                    end.set(new IllegalStateException("download ended normally"));
                                    return;
                                }
                            } else {
                                s.write(buf);
                            }
                        }
                    } catch (RuntimeException e) {
                        failures.incrementAndGet();
                        end.set(e);
                    }
                }));
            }
            return w;
        }

        /**
         * Waits up to {@code max} for everything to end, then checks that every call and stream failed
         * exactly once, with a closed connection ({@code reason}, if not null).
         */
        void checkAllFailedOnce(final Verdict verdict, final String tag, final Duration max,
                                final ConnectionClosedException.Reason reason) throws InterruptedException {
            final long deadline = System.nanoTime() + max.toNanos();
            for (Thread t : streamThreads) {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            }
            while (handlerCallbacks.size() < handlerCalls && System.nanoTime() - deadline < 0) {
                Thread.sleep(10);
            }
            int futuresOk = 0;
            int futuresRightFailure = 0;
            final List<String> odd = new ArrayList<>();
            for (CompletableFuture<?> f : futures) {
                try {
                    f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    futuresOk++;
                } catch (java.util.concurrent.ExecutionException e) {
                    if (closedFor(e.getCause(), reason)) {
                        futuresRightFailure++;
                    } else {
                        odd.add("future: " + e.getCause());
                    }
                } catch (java.util.concurrent.TimeoutException e) {
                    odd.add("future still pending");
                }
            }
            int handlerOnce = 0;
            for (AtomicInteger n : handlerCallbacks.values()) {
                if (n.get() == 1) {
                    handlerOnce++;
                }
            }
            int handlerRightFailure = 0;
            for (BraidException e : handlerErrors.values()) {
                if (closedFor(e, reason)) {
                    handlerRightFailure++;
                } else {
                    odd.add("reply handler: " + e);
                }
            }
            int streamsOnce = 0;
            int streamsRight = 0;
            for (int i = 0; i < streamThreads.size(); i++) {
                if (streamFailures.get(i).get() == 1 && !streamThreads.get(i).isAlive()) {
                    streamsOnce++;
                }
                final Throwable e = streamEnds.get(i).get();
                if (closedFor(e, null)) {
                    streamsRight++;
                } else {
                    odd.add("stream " + i + ": " + e);
                }
            }
            final boolean ok = futuresRightFailure == futures.size() && futuresOk == 0
                    && handlerOnce == handlerCalls && handlerCallbacks.size() == handlerCalls && handlerReplies.get() == 0
                    && handlerRightFailure == handlerCalls && streamsOnce == streamThreads.size()
                    && streamsRight == streamThreads.size();
            verdict.check(ok, String.format(Locale.ROOT, "%s in flight, each failed exactly once with the connection "
                            + "closed%s: futures %d of %d (%d succeeded), reply-handler calls %d of %d (one callback each: %d, "
                            + "replies %d), streams %d of %d (once each: %d)%s", tag,
                    reason == null ? "" : " (" + reason + ")", futuresRightFailure, futures.size(), futuresOk,
                    handlerRightFailure, handlerCalls, handlerOnce, handlerReplies.get(), streamsRight,
                    streamThreads.size(), streamsOnce, odd.isEmpty() ? "" : "; unexpected: " + odd));
        }

        /** A closed connection: ConnectionClosedException (with {@code reason} if given) or its category. */
        private static boolean closedFor(final Throwable e, final ConnectionClosedException.Reason reason) {
            if (e instanceof ConnectionClosedException cce) {
                return reason == null || cce.reason() == reason;
            }
            return reason == null && e instanceof BraidException be
                    && be.category() == BraidException.Category.CONNECTION_CLOSED;
        }
    }
}
