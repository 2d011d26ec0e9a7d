package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.ConnectionStats;
import dev.braid.StreamOptions;
import dev.braid.tooling.Durations;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * Many concurrent streams on ONE connection: every stream is opened first (so all of them are open at
 * once), then each moves a little data up or down, checked end to end with CRC32C. Verdict: every stream
 * opened and completed with a matching checksum, memory (braid's pools, the JVM's direct memory, heap after
 * GC with every stream open) within the bound docs/design.md gives for that many streams and the
 * configured window, and no pooled buffer outstanding after the close.
 */
@Command(name = "streams", mixinStandardHelpOptions = true,
        description = "N concurrent checksummed streams on one connection; memory against design.md's bound.")
final class StreamsScenario implements Callable<Integer> {
    @Option(names = "--streams", description = "Concurrent streams on the connection (default: ${DEFAULT-VALUE}).")
    int streams = 10_000;

    @Option(names = "--bytes", description = "Bytes each stream moves (default: ${DEFAULT-VALUE}).")
    long bytes = 64 * 1024;

    @Option(names = "--direction", description = "up, down or both (alternating) (default: ${DEFAULT-VALUE}).")
    String direction = "both";

    @Option(names = "--window", description = "initialStreamWindow on both sides, bytes (default: ${DEFAULT-VALUE}).")
    int window = 64 * 1024;

    @Option(names = "--packet", description = "maxStreamPacket on both sides, bytes; 32740 fills a 32 KiB pool "
            + "buffer exactly (default: ${DEFAULT-VALUE}).")
    int packet = 32 * 1024 - 28;

    @Option(names = "--duration", description = "Repeat rounds until this much time passed; 0 = one round "
            + "(default: ${DEFAULT-VALUE}).")
    String duration = "0s";

    @Option(names = "--timeout", description = "A round taking longer than this is reported as a hang (default: ${DEFAULT-VALUE}).")
    String timeout = "120s";

    @Option(names = "--heap-per-stream", description = "Heap budget per open stream (both ends, their threads "
            + "included), bytes; this scenario's own figure, design.md gives none (default: ${DEFAULT-VALUE}).")
    long heapPerStream = 64 * 1024;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        final Duration runFor = Durations.parse(duration);
        final Duration roundTimeout = Durations.parse(timeout);
        final BraidConfig serverCfg = config();
        final BraidConfig clientCfg = config();
        final StreamBound bound = StreamBound.of(serverCfg, streams);
        final ChecksummedStreams cs = new ChecksummedStreams(packet);
        final Verdict verdict;
        try (Braid serverBraid = Braid.create(serverCfg); Braid clientBraid = Braid.create(clientCfg)) {
            final BraidServer server = cs.register(serverBraid.server()).bind(0);
            final Connection c = clientBraid.connect(server.address());
            out.printf(Locale.ROOT, "streams: backend %s, %,d concurrent streams on one connection, %,d bytes each, "
                            + "direction %s, window %,d B, packet %,d B, extensions %s%n", clientBraid.backendName(), streams,
                    bytes, direction, window, packet, c.extensionsNegotiated());
            final long heapBase = Memory.heapAfterGc();
            final long directBase = Memory.direct();
            final Histogram open = Histograms.nanos();
            final Histogram completion = Histograms.nanos();
            final LongAdder completed = new LongAdder();
            final LongAdder mismatches = new LongAdder();
            final LongAdder errors = new LongAdder();
            final AtomicReference<String> firstError = new AtomicReference<>();
            long heapAllOpen = 0;
            int rounds = 0;
            String hang = null;
            final long start = System.nanoTime();
            final Memory.PeakSampler peaks = new Memory.PeakSampler(50,
                    List.of(clientBraid.bufferPool(), serverBraid.bufferPool()));
            try {
                do {
                    final Round r = new Round(c, cs, rounds);
                    final long heap = r.run(roundTimeout);
                    heapAllOpen = Math.max(heapAllOpen, heap);
                    open.add(r.open.getIntervalHistogram());
                    completion.add(r.completion.getIntervalHistogram());
                    completed.add(r.completed.sum());
                    mismatches.add(r.mismatches.sum());
                    errors.add(r.errors.sum());
                    firstError.compareAndSet(null, r.firstError.get());
                    rounds++;
                    out.printf(Locale.ROOT, "round %d: %,d of %,d streams completed, %,d opened, in %.1f s%n", rounds,
                            r.completed.sum(), streams, r.opened.get(), r.seconds);
                    if (r.hang != null) {
                        hang = r.hang;
                        break;
                    }
                } while (System.nanoTime() - start < runFor.toNanos());
                out.println();
                Histograms.header(out, "ms");
                Histograms.row(out, "stream open", open, "ms");
                Histograms.row(out, "stream completion", completion, "ms");
                verdict = new Verdict(out);
                if (hang != null) {
                    verdict.fail(hang);
                    c.abort();
                }
                final long total = (long) rounds * streams;
                verdict.check(completed.sum() == total, String.format(Locale.ROOT,
                        "streams completed %,d of %,d (%d round%s)", completed.sum(), total, rounds, rounds == 1 ? "" : "s"));
                final long bad = mismatches.sum() + cs.serverMismatches.sum();
                verdict.check(bad == 0, String.format(Locale.ROOT, "CRC32C mismatches %d (client %d, server %d), must be 0",
                        bad, mismatches.sum(), cs.serverMismatches.sum()));
                verdict.check(errors.sum() == 0, "stream errors " + errors.sum() + ", must be 0"
                        + (firstError.get() == null ? "" : " (first: " + firstError.get() + ")"));
                c.close();
                server.close();
                peaks.stop();
                final long allowed = bound.side() + StreamBound.poolRetention();
                out.println("  bound (docs/design.md §8): " + bound.describe());
                verdict.check(peaks.peakPool(0) <= allowed, "client pool peak " + Memory.mib(peaks.peakPool(0))
                        + " (bound <= " + Memory.mib(allowed) + ")");
                verdict.check(peaks.peakPool(1) <= allowed, "server pool peak " + Memory.mib(peaks.peakPool(1))
                        + " (bound <= " + Memory.mib(allowed) + ")");
                verdict.check(peaks.peakDirect() - directBase <= 2 * allowed, "direct memory peak above start "
                        + Memory.mib(peaks.peakDirect() - directBase) + " (bound <= 2 sides x " + Memory.mib(allowed) + ")");
                final long heapBudget = streams * heapPerStream;
                verdict.check(heapAllOpen - heapBase <= heapBudget, String.format(Locale.ROOT,
                        "heap after GC with all streams open, above start %s = %,d B per stream (budget <= %s = %,d B per stream)",
                        Memory.mib(heapAllOpen - heapBase), (heapAllOpen - heapBase) / streams, Memory.mib(heapBudget),
                        heapPerStream));
            } finally {
                peaks.stop();
            }
            final long outClient = Threads.awaitNoOutstanding(clientBraid.bufferPool(), Duration.ofSeconds(10));
            final long outServer = Threads.awaitNoOutstanding(serverBraid.bufferPool(), Duration.ofSeconds(10));
            verdict.check(outClient == 0 && outServer == 0, "pooled buffers outstanding after close: client "
                    + outClient + ", server " + outServer + ", must be 0");
        }
        return verdict.conclude(String.format(Locale.ROOT, "%,d concurrent streams, all checksums matched, memory "
                + "within design.md's bound", streams));
    }

    private BraidConfig config() {
        return new BraidConfig().maxConcurrentStreams(streams).initialStreamWindow(window).maxStreamPacket(packet)
                // every stream's opening call may be outstanding at once
                .maxOutstandingCalls(Math.max(BraidConfig.DEFAULT_MAX_OUTSTANDING_CALLS, streams))
                .maxQueuedCalls(Math.max(65_536, streams));
    }

    /** One round: open every stream, wait until all are open, then move the data. */
    private final class Round {
        final Connection c;
        final ChecksummedStreams cs;
        final int round;
        final Recorder open = new Recorder(TimeUnit.HOURS.toNanos(1), 3);
        final Recorder completion = new Recorder(TimeUnit.HOURS.toNanos(1), 3);
        final AtomicLong opened = new AtomicLong();
        final LongAdder completed = new LongAdder();
        final LongAdder mismatches = new LongAdder();
        final LongAdder errors = new LongAdder();
        final AtomicReference<String> firstError = new AtomicReference<>();
        String hang;
        double seconds;

        Round(final Connection c, final ChecksummedStreams cs, final int round) {
            this.c = c;
            this.cs = cs;
            this.round = round;
        }

        /** Runs the round; returns the heap after GC measured while every stream was open. */
        long run(final Duration timeout) throws InterruptedException {
            final long t0 = System.nanoTime();
            final CountDownLatch allOpen = new CountDownLatch(streams);
            final CountDownLatch go = new CountDownLatch(1);
            final CountDownLatch done = new CountDownLatch(streams);
            final StreamOptions options = new StreamOptions(timeout, timeout);
            for (int i = 0; i < streams; i++) {
                final int seed = round * streams + i;
                final boolean up = switch (direction) {
                    case "up" -> true;
                    case "down" -> false;
                    default -> i % 2 == 0;
                };
                Thread.ofVirtual().name("stress-stream-" + i).start(() -> {
                    boolean counted = false;
                    try {
                        final long s0 = System.nanoTime();
                        final BraidStream s = ChecksummedStreams.open(c, up ? ChecksummedStreams.UP : ChecksummedStreams.DOWN,
                                seed, bytes, 0, options);
                        open.recordValue(System.nanoTime() - s0);
                        opened.incrementAndGet();
                        allOpen.countDown();
                        counted = true;
                        go.await();
                        final long s1 = System.nanoTime();
                        if (up) {
                            cs.upload(s, seed, bytes);
                        } else {
                            ChecksummedStreams.download(s, seed, bytes);
                        }
                        completion.recordValue(System.nanoTime() - s1);
                        completed.increment();
                    } catch (ChecksummedStreams.ChecksumMismatch e) {
                        mismatches.increment();
                        firstError.compareAndSet(null, e.getMessage());
                    } catch (Exception e) {
                        errors.increment();
                        firstError.compareAndSet(null, e.toString());
                    } finally {
                        if (!counted) {
                            allOpen.countDown();
                        }
                        done.countDown();
                    }
                });
            }
            final long deadline = t0 + timeout.toNanos();
            long heap = 0;
            if (allOpen.await(deadline - System.nanoTime(), TimeUnit.NANOSECONDS)) {
                heap = Memory.heapAfterGc();
                final ConnectionStats st = c.stats();
                out.printf(Locale.ROOT, "round %d: %,d streams open after %.1f s (stats: %d holding a slot); heap after GC %s, "
                                + "direct %s%n", round + 1, opened.get(), (System.nanoTime() - t0) / 1e9, st.streamsOpen(),
                        Memory.mib(heap), Memory.mib(Memory.direct()));
            }
            go.countDown();
            if (!done.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                final ConnectionStats st = c.stats();
                hang = String.format(Locale.ROOT, "hang: round %d had %,d of %,d streams completed (%,d opened) after "
                                + "the %s timeout; connection: %d streams holding a slot, %d waiting for one, %d calls in "
                                + "flight, %d queued", round + 1, completed.sum(), streams, opened.get(),
                        Durations.format(timeout), st.streamsOpen(), st.streamsWaiting(), st.callsInFlight(),
                        st.callsQueued());
            }
            seconds = (System.nanoTime() - t0) / 1e9;
            return heap;
        }
    }
}
