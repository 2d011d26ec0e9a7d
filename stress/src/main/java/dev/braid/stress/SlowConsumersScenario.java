package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.StreamOptions;
import dev.braid.tooling.Durations;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * K streams whose readers stop reading, on the same connection as healthy streams and small calls. For
 * each variant (the readers stalled at the server: uploads nobody reads; at the client: downloads nobody
 * reads) it runs a phase without stalled streams, then one with them, then lets the stalled readers go.
 * Verdict per variant: call p99 and healthy-stream throughput compared with the phase without stalled
 * streams (ratios), what the stalled streams' receivers hold within their window (and what their senders
 * got ahead within window + send ring), braid's pools within design.md's bound, and the stalled streams'
 * data arriving intact (CRC32C) once read. The ratios are timing figures; the rest are not.
 *
 * <p>What a receiver holds is read with the public {@code BraidStream.queuedBytes()}.
 */
@Command(name = "slow-consumers", mixinStandardHelpOptions = true,
        description = "Stalled stream readers beside healthy streams and calls; isolation, bounds, intact resume.")
final class SlowConsumersScenario implements Callable<Integer> {
    static final Procedure PING = Procedure.of(ChecksummedStreams.PROGRAM, 4, 1);
    static final Procedure SINK = Procedure.of(ChecksummedStreams.PROGRAM, 4, 2);
    static final Procedure SOURCE = Procedure.of(ChecksummedStreams.PROGRAM, 4, 3);

    @Option(names = "--stalled", description = "Streams whose reader stops (default: ${DEFAULT-VALUE}).")
    int stalled = 8;

    @Option(names = "--healthy", description = "Healthy streams, half up, half down (default: ${DEFAULT-VALUE}).")
    int healthy = 4;

    @Option(names = "--side", description = "Where the readers stall: server, client or both (one after the "
            + "other) (default: ${DEFAULT-VALUE}).")
    String side = "both";

    @Option(names = "--duration", description = "Length of each measured phase (default: ${DEFAULT-VALUE}).")
    String duration = "10s";

    @Option(names = "--warmup", description = "Warm-up calls before the first phase (default: ${DEFAULT-VALUE}).")
    String warmup = "1s";

    @Option(names = "--window", description = "initialStreamWindow on both sides, bytes (default: ${DEFAULT-VALUE}).")
    int window = 1 << 20;

    @Option(names = "--stalled-bytes", description = "Bytes each stalled stream carries; more than window + send "
            + "ring so its writer really blocks (default: ${DEFAULT-VALUE}).")
    long stalledBytes = 8L << 20;

    @Option(names = "--chunk", description = "Write size of every stream, bytes (default: ${DEFAULT-VALUE}).")
    int chunk = 64 * 1024;

    @Option(names = "--max-p99-ratio", description = "Verdict: call p99 with stalled streams / without, at most "
            + "(default: ${DEFAULT-VALUE}).")
    double maxP99Ratio = 3.0;

    @Option(names = "--min-throughput-ratio", description = "Verdict: healthy streams' throughput with stalled "
            + "streams / without, at least (default: ${DEFAULT-VALUE}).")
    double minThroughputRatio = 0.5;

    @Option(names = "--timeout", description = "How long the resumed stalled streams may take (default: ${DEFAULT-VALUE}).")
    String timeout = "60s";

    private final PrintStream out = System.out;
    private final LongAdder errors = new LongAdder();
    private final AtomicReference<String> firstError = new AtomicReference<>();
    private final ChecksummedStreams cs = new ChecksummedStreams(64 * 1024);

    private record Phase(Histogram calls, double mbps) {
    }

    @Override
    public Integer call() throws Exception {
        final Duration phase = Durations.parse(duration);
        final BraidConfig serverCfg = config();
        final BraidConfig clientCfg = config();
        final Verdict verdict;
        try (Braid serverBraid = Braid.create(serverCfg); Braid clientBraid = Braid.create(clientCfg)) {
            final BraidServer server = cs.register(serverBraid.server())
                    .handle(PING, call -> call.reply(call.args()))
                    .stream(SINK, (call, stream) -> {
                        call.reply(new byte[0]);
                        final ByteBuffer b = ByteBuffer.allocateDirect(256 * 1024);
                        while (stream.read(b) >= 0) {
                            b.clear();
                        }
                        stream.finish();
                    })
                    .stream(SOURCE, (call, stream) -> {
                        call.reply(new byte[0]);
                        final ByteBuffer b = ByteBuffer.allocateDirect(chunk);
                        while (true) { // until the client aborts
                            b.clear();
                            stream.write(b);
                        }
                    })
                    .bind(0);
            final List<String> sides = switch (side) {
                case "server" -> List.of("server");
                case "client" -> List.of("client");
                default -> List.of("server", "client");
            };
            final StreamBound bound = StreamBound.of(serverCfg, stalled + healthy);
            final List<String> results = new ArrayList<>();
            try (Connection c = clientBraid.connect(server.address())) {
                out.printf(Locale.ROOT, "slow-consumers: backend %s, extensions %s, %d stalled + %d healthy streams, "
                                + "window %,d B, %,d bytes per stalled stream, phases of %s%n", clientBraid.backendName(),
                        c.extensionsNegotiated(), stalled, healthy, window, stalledBytes, Durations.format(phase));
                calls(c, Durations.parse(warmup));
                verdict = new Verdict(out);
                for (int v = 0; v < sides.size(); v++) {
                    final Memory.PeakSampler peaks = new Memory.PeakSampler(50,
                            List.of(clientBraid.bufferPool(), serverBraid.bufferPool()));
                    try {
                        results.add(variant(c, sides.get(v), v, phase, verdict));
                    } finally {
                        peaks.stop();
                    }
                    final long allowed = bound.side() + StreamBound.poolRetention();
                    verdict.check(peaks.peakPool(0) <= allowed && peaks.peakPool(1) <= allowed, String.format(Locale.ROOT,
                            "[%s] pool peaks client %s, server %s (bound <= %s: %s)", sides.get(v),
                            Memory.mib(peaks.peakPool(0)), Memory.mib(peaks.peakPool(1)), Memory.mib(allowed),
                            bound.describe()));
                }
                verdict.check(errors.sum() == 0, "unexpected errors " + errors.sum() + ", must be 0"
                        + (firstError.get() == null ? "" : " (first: " + firstError.get() + ")"));
            }
            server.close();
            final long outClient = Threads.awaitNoOutstanding(clientBraid.bufferPool(), Duration.ofSeconds(10));
            final long outServer = Threads.awaitNoOutstanding(serverBraid.bufferPool(), Duration.ofSeconds(10));
            verdict.check(outClient == 0 && outServer == 0, "pooled buffers outstanding after close: client " + outClient
                    + ", server " + outServer + ", must be 0");
            return verdict.conclude(String.join("; ", results));
        }
    }

    private BraidConfig config() {
        return new BraidConfig().initialStreamWindow(window)
                .maxConcurrentStreams(Math.max(64, 2 * (stalled + healthy)));
    }

    /** One variant: baseline phase, stalled phase, resume. Returns a summary for the PASS line. */
    private String variant(final Connection c, final String where, final int index, final Duration phase,
                           final Verdict verdict) throws Exception {
        out.println();
        out.println("[" + where + "] readers stalled at the " + where + ("server".equals(where)
                ? " (uploads whose server handler does not read)" : " (downloads the client does not read)"));
        Histograms.header(out, "µs");
        final Phase a = phase(c, phase);
        Histograms.row(out, "calls, no stalled streams", a.calls, "µs");

        final boolean atServer = "server".equals(where);
        final CountDownLatch clientGate = new CountDownLatch(1);
        final CountDownLatch stalledDone = new CountDownLatch(stalled);
        final LongAdder intact = new LongAdder();
        final LongAdder corrupted = new LongAdder();
        final List<BraidStream> clientEnds = new ArrayList<>();
        final int seedBase = 1_000_000 * (index + 1);
        for (int i = 0; i < stalled; i++) {
            final int seed = seedBase + i;
            final BraidStream s = ChecksummedStreams.open(c, atServer ? ChecksummedStreams.UP : ChecksummedStreams.DOWN,
                    seed, stalledBytes, ChecksummedStreams.FLAG_WATCH | (atServer ? ChecksummedStreams.FLAG_STALL : 0),
                    StreamOptions.waitForSlot(Duration.ofSeconds(30)));
            clientEnds.add(s);
            Thread.ofVirtual().name("stress-stalled-" + i).start(() -> {
                try {
                    if (atServer) {
                        cs.upload(s, seed, stalledBytes); // blocks once the server's window and our ring are full
                    } else {
                        clientGate.await(); // the client's reader stalls here
                        ChecksummedStreams.download(s, seed, stalledBytes);
                    }
                    intact.increment();
                } catch (ChecksummedStreams.ChecksumMismatch e) {
                    corrupted.increment();
                    firstError.compareAndSet(null, e.getMessage());
                } catch (Exception e) {
                    error(e);
                } finally {
                    stalledDone.countDown();
                }
            });
        }
        // the senders are stalled once their byte counts stop moving
        final List<BraidStream> senders = new ArrayList<>();
        final List<BraidStream> receivers = new ArrayList<>();
        for (int i = 0; i < stalled; i++) {
            final BraidStream serverEnd = awaitWatched(seedBase + i);
            senders.add(atServer ? clientEnds.get(i) : serverEnd);
            receivers.add(atServer ? serverEnd : clientEnds.get(i));
        }
        awaitStill(senders);
        final long[] before = held(senders, receivers);
        final Phase b = phase(c, phase);
        final long[] after = held(senders, receivers);
        Histograms.row(out, "calls, " + stalled + " stalled", b.calls, "µs");
        out.printf(Locale.ROOT, "healthy streams: %.0f MB/s without stalled streams, %.0f MB/s with%n", a.mbps, b.mbps);

        final double p99Ratio = b.calls.getValueAtPercentile(99) / (double) a.calls.getValueAtPercentile(99);
        final double tputRatio = a.mbps > 0 ? b.mbps / a.mbps : 0;
        verdict.check(p99Ratio <= maxP99Ratio, String.format(Locale.ROOT,
                "[%s] call p99 with %d stalled streams %.1f µs / without %.1f µs = ratio %.2f (bound <= %.2f)", where,
                stalled, Histograms.p99Micros(b.calls), Histograms.p99Micros(a.calls), p99Ratio, maxP99Ratio));
        verdict.check(tputRatio >= minThroughputRatio, String.format(Locale.ROOT,
                "[%s] healthy streams' throughput with stalled streams %.0f MB/s / without %.0f MB/s = ratio %.2f "
                        + "(bound >= %.2f)", where, b.mbps, a.mbps, tputRatio, minThroughputRatio));
        final long maxHeld = Math.max(before[0], after[0]);
        // With window auto-tuning a stalled stream gets the connection's window, which the healthy streams'
        // consumption may have grown up to maxStreamWindow (design.md §8, "Memory bound").
        final long granted = config().windowAutoTuning() ? Math.max(window, config().maxStreamWindow()) : window;
        verdict.check(maxHeld <= granted, String.format(Locale.ROOT,
                "[%s] most a stalled stream's receiver held %,d B of window cost (bound <= the largest window "
                        + "granted %,d B)", where, maxHeld, granted));
        final int packetPayload = Math.min(config().maxStreamPacket(), window - 28);
        // the send ring (docs/design.md, memory bound): 64 slots, at most eight maximal packets of bytes plus one
        final long frame = packetPayload + 28L;
        final long aheadBound = granted + Math.min(64L * frame, 8L * 262_148 + frame);
        final long maxAhead = Math.max(before[1], after[1]);
        verdict.check(maxAhead > window / 2 && maxAhead <= aheadBound, String.format(Locale.ROOT,
                "[%s] most a stalled stream's sender got ahead of its reader %,d B (bound: > window/2 so it did "
                        + "stall on the window, <= window + the send ring = %,d B)", where, maxAhead, aheadBound));

        // let the stalled readers go: their data must arrive intact
        if (atServer) {
            cs.releaseStalled();
        } else {
            clientGate.countDown();
        }
        final boolean finished = stalledDone.await(Durations.parse(timeout).toMillis(), TimeUnit.MILLISECONDS);
        verdict.check(finished && intact.sum() == stalled && corrupted.sum() == 0, String.format(Locale.ROOT,
                "[%s] stalled streams resumed and arrived intact (CRC32C): %d of %d (%d corrupted%s)", where,
                intact.sum(), stalled, corrupted.sum(), finished ? "" : ", the rest still running after " + timeout));
        if (!finished) {
            clientEnds.forEach(s -> s.abort("slow-consumers timed out"));
        }
        cs.watched.clear();
        return String.format(Locale.ROOT, "[%s] p99 ratio %.2f, throughput ratio %.2f", where, p99Ratio, tputRatio);
    }

    /** [most window cost a receiver holds, most bytes a sender is ahead of its receiver's reads]. */
    private static long[] held(final List<BraidStream> senders, final List<BraidStream> receivers) {
        long queued = 0;
        long ahead = 0;
        for (int i = 0; i < senders.size(); i++) {
            queued = Math.max(queued, receivers.get(i).queuedBytes());
            ahead = Math.max(ahead, senders.get(i).bytesWritten() - receivers.get(i).bytesRead());
        }
        return new long[]{queued, ahead};
    }

    private BraidStream awaitWatched(final int seed) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        BraidStream s;
        while ((s = cs.watched.get(seed)) == null) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the server never opened stalled stream " + seed);
            }
            Thread.sleep(5);
        }
        return s;
    }

    /** Waits until no sender's byte count moved for 300 ms (at most 15 s). */
    private static void awaitStill(final List<BraidStream> senders) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        long last = -1;
        while (System.nanoTime() < deadline) {
            long sum = 0;
            for (BraidStream s : senders) {
                sum += s.bytesWritten();
            }
            if (sum == last && sum > 0) {
                return;
            }
            last = sum;
            Thread.sleep(300);
        }
    }

    /** Healthy streams (half up, half down) at full speed while one caller measures call latency. */
    private Phase phase(final Connection c, final Duration d) throws Exception {
        final LongAdder bytes = new LongAdder();
        final AtomicBoolean stop = new AtomicBoolean();
        final List<Thread> threads = new ArrayList<>();
        final List<BraidStream> streams = new ArrayList<>();
        for (int i = 0; i < healthy; i++) {
            final boolean up = i % 2 == 0;
            final BraidStream s = c.openStream(up ? SINK : SOURCE, ByteBuffer.allocate(0),
                    StreamOptions.waitForSlot(Duration.ofSeconds(30)));
            streams.add(s);
            threads.add(Thread.ofVirtual().start(() -> {
                final ByteBuffer b = ByteBuffer.allocateDirect(chunk);
                try {
                    while (!stop.get()) {
                        b.clear();
                        if (up) {
                            s.write(b);
                            bytes.add(chunk);
                        } else {
                            final int n = s.read(b);
                            if (n < 0) {
                                throw new IllegalStateException("download ended early");
                            }
                            bytes.add(n);
                        }
                    }
                } catch (BraidException e) {
                    if (!stop.get()) {
                        error(e);
                    }
                } catch (RuntimeException e) {
                    error(e);
                }
            }));
        }
        Thread.sleep(healthy > 0 ? 300 : 0); // let the streams reach full speed
        bytes.reset();
        final long t0 = System.nanoTime();
        final Histogram h = calls(c, d);
        final double mbps = bytes.sum() / ((System.nanoTime() - t0) / 1e9) / 1e6;
        stop.set(true);
        for (BraidStream s : streams) {
            s.abort("phase over");
        }
        for (Thread t : threads) {
            t.join();
        }
        return new Phase(h, mbps);
    }

    private Histogram calls(final Connection c, final Duration d) {
        final Histogram h = Histograms.nanos();
        final ByteBuffer args = ByteBuffer.allocate(64);
        for (int i = 0; i < 64; i++) {
            args.put(i, (byte) i);
        }
        final long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            final long t0 = System.nanoTime();
            try (Reply r = c.callAsync(PING, args.duplicate(), CallOptions.timeout(Duration.ofSeconds(30))).get()) {
                h.recordValue(System.nanoTime() - t0);
                if (!r.payload().equals(args)) {
                    error(new IllegalStateException("echo came back altered"));
                }
            } catch (Exception e) {
                error(e);
            }
        }
        return h;
    }

    private void error(final Exception e) {
        errors.increment();
        firstError.compareAndSet(null, e.toString());
    }
}
