package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.StreamOptions;
import dev.braid.tooling.Durations;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32C;

/**
 * Calls and streams (up and down, CRC32C-checked) on one connection for {@code --duration}, sampling heap
 * after GC, direct memory and braid's pools every {@code --sample-every} (and at least {@link #MIN_SAMPLES}
 * times, however long that takes: each sample forces a GC, which a loaded machine can make last a second, and
 * the verdict needs that many). Verdict: every call and stream
 * intact, no errors, memory flat (the last third of the samples' average within {@code --tolerance} (plus
 * {@code --slack-mib}) of the first third's) and below stated bounds, and no pooled buffer outstanding at the
 * end.
 */
@Command(name = "soak", mixinStandardHelpOptions = true,
        description = "Calls and checksummed streams for --duration; memory must stay flat and bounded.")
final class SoakScenario implements Callable<Integer> {
    static final Procedure CRC = Procedure.of(ChecksummedStreams.PROGRAM, 5, 1);
    /** Memory samples the flatness verdict needs (first and last thirds). */
    static final int MIN_SAMPLES = 3;

    @Option(names = "--duration", description = "How long to run, e.g. 30s, 10m (default: ${DEFAULT-VALUE}).")
    String duration = "60s";

    @Option(names = "--sample-every", description = "Memory sampling period (default: ${DEFAULT-VALUE}).")
    String sampleEvery = "5s";

    @Option(names = "--callers", description = "Calling threads (default: ${DEFAULT-VALUE}).")
    int callers = 8;

    @Option(names = "--streams", description = "Threads each running one stream after another (default: ${DEFAULT-VALUE}).")
    int streams = 4;

    @Option(names = "--max-payload", description = "Largest call payload, bytes (default: ${DEFAULT-VALUE}).")
    int maxPayload = 16_384;

    @Option(names = "--max-stream-bytes", description = "Largest stream, bytes (sizes are random) (default: ${DEFAULT-VALUE}).")
    int maxStreamBytes = 4 << 20;

    @Option(names = "--tolerance", description = "Flatness: last-third average <= first-third average x (1 + this) "
            + "+ slack (default: ${DEFAULT-VALUE}).")
    double tolerance = 0.25;

    @Option(names = "--slack-mib", description = "Flatness: absolute slack, MiB, for small figures (default: ${DEFAULT-VALUE}).")
    long slackMib = 8;

    @Option(names = "--max-heap-mib", description = "Bound on every heap-after-GC sample, MiB (default: ${DEFAULT-VALUE}).")
    long maxHeapMib = 256;

    private final PrintStream out = System.out;

    private record Sample(long heap, long direct, long clientPool, long serverPool) {
    }

    @Override
    public Integer call() throws Exception {
        final Duration runFor = Durations.parse(duration);
        final Duration period = Durations.parse(sampleEvery);
        final BraidConfig cfg = new BraidConfig();
        final ChecksummedStreams cs = new ChecksummedStreams(64 * 1024);
        final Recorder callRec = new Recorder(TimeUnit.HOURS.toNanos(1), 3);
        final Recorder streamRec = new Recorder(TimeUnit.HOURS.toNanos(1), 3);
        final LongAdder callsOk = new LongAdder();
        final LongAdder callsBad = new LongAdder();
        final LongAdder streamsOk = new LongAdder();
        final LongAdder streamsBad = new LongAdder();
        final LongAdder streamBytes = new LongAdder();
        final LongAdder errors = new LongAdder();
        final AtomicReference<String> firstError = new AtomicReference<>();
        final List<Sample> samples = new ArrayList<>();
        final Verdict verdict = new Verdict(out);
        final Histogram callHist = Histograms.nanos();
        final Histogram streamHist = Histograms.nanos();
        final long directBase;
        try (Braid serverBraid = Braid.create(cfg); Braid clientBraid = Braid.create(new BraidConfig())) {
            final BraidServer server = cs.register(serverBraid.server()).handle(CRC, call -> {
                final CRC32C crc = new CRC32C();
                crc.update(call.args());
                call.reply(ByteBuffer.allocate(4).putInt(0, (int) crc.getValue()));
            }).bind(0);
            final Connection c = clientBraid.connect(server.address());
            Memory.heapAfterGc(); // collect what earlier work left, so the direct baseline holds only what is live
            directBase = Memory.direct();
            out.printf(Locale.ROOT, "soak: backend %s, %d callers (payloads 0..%,d B) and %d stream threads (0..%,d B, "
                            + "up and down) on one connection for %s, sampling every %s%n", clientBraid.backendName(),
                    callers, maxPayload, streams, maxStreamBytes, Durations.format(runFor), Durations.format(period));
            final AtomicBoolean stop = new AtomicBoolean();
            final List<Thread> workers = new ArrayList<>();
            for (int i = 0; i < callers; i++) {
                workers.add(Thread.ofVirtual().name("stress-caller-" + i).start(() -> {
                    final ThreadLocalRandom r = ThreadLocalRandom.current();
                    while (!stop.get()) {
                        final byte[] p = new byte[r.nextInt(maxPayload + 1)];
                        r.nextBytes(p);
                        final CRC32C crc = new CRC32C();
                        crc.update(p);
                        final long t0 = System.nanoTime();
                        try (Reply reply = c.callAsync(CRC, ByteBuffer.wrap(p), CallOptions.timeout(Duration.ofSeconds(30))).get()) {
                            callRec.recordValue(System.nanoTime() - t0);
                            if (reply.payload().getInt(0) == (int) crc.getValue()) {
                                callsOk.increment();
                            } else {
                                callsBad.increment();
                            }
                        } catch (Exception e) {
                            errors.increment();
                            firstError.compareAndSet(null, "call: " + e);
                        }
                    }
                }));
            }
            final AtomicInteger seeds = new AtomicInteger();
            for (int i = 0; i < streams; i++) {
                workers.add(Thread.ofVirtual().name("stress-streamer-" + i).start(() -> {
                    final ThreadLocalRandom r = ThreadLocalRandom.current();
                    while (!stop.get()) {
                        final int seed = seeds.getAndIncrement();
                        final long len = r.nextInt(maxStreamBytes + 1);
                        final boolean up = (seed & 1) == 0;
                        final long t0 = System.nanoTime();
                        try {
                            final BraidStream s = ChecksummedStreams.open(c, up ? ChecksummedStreams.UP
                                    : ChecksummedStreams.DOWN, seed, len, 0, StreamOptions.waitForSlot(Duration.ofSeconds(30)));
                            if (up) {
                                cs.upload(s, seed, len);
                            } else {
                                ChecksummedStreams.download(s, seed, len);
                            }
                            streamRec.recordValue(System.nanoTime() - t0);
                            streamsOk.increment();
                            streamBytes.add(len);
                        } catch (ChecksummedStreams.ChecksumMismatch e) {
                            streamsBad.increment();
                            firstError.compareAndSet(null, e.getMessage());
                        } catch (Exception e) {
                            errors.increment();
                            firstError.compareAndSet(null, "stream " + seed + ": " + e);
                        }
                    }
                }));
            }
            out.printf(Locale.ROOT, "%8s %10s %12s %10s %11s %11s %11s %11s%n", "t s", "calls/s", "call p99 µs",
                    "streams/s", "stream MB/s", "heap (GC)", "direct", "pools");
            final long start = System.nanoTime();
            final long end = start + runFor.toNanos();
            long lastCalls = 0;
            long lastStreams = 0;
            long lastBytes = 0;
            long lastT = start;
            while (System.nanoTime() < end || samples.size() < MIN_SAMPLES) {
                Thread.sleep(Math.max(1, Math.min(period.toMillis(), TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime()))));
                final long now = System.nanoTime();
                final Histogram ci = callRec.getIntervalHistogram();
                callHist.add(ci);
                streamHist.add(streamRec.getIntervalHistogram());
                final Sample s = new Sample(Memory.heapAfterGc(), Memory.direct(), clientBraid.bufferPool().allocatedBytes(),
                        serverBraid.bufferPool().allocatedBytes());
                samples.add(s);
                final double secs = (now - lastT) / 1e9;
                out.printf(Locale.ROOT, "%8.1f %10.0f %12.1f %10.1f %11.1f %11s %11s %11s%n", (now - start) / 1e9,
                        (callsOk.sum() - lastCalls) / secs, Histograms.p99Micros(ci), (streamsOk.sum() - lastStreams) / secs,
                        (streamBytes.sum() - lastBytes) / secs / 1e6, Memory.mib(s.heap), Memory.mib(s.direct),
                        Memory.mib(s.clientPool + s.serverPool));
                lastCalls = callsOk.sum();
                lastStreams = streamsOk.sum();
                lastBytes = streamBytes.sum();
                lastT = now;
            }
            stop.set(true);
            for (Thread t : workers) {
                if (!t.join(Duration.ofSeconds(60))) {
                    verdict.fail("hang: worker " + t.getName() + " did not stop within 60 s of the end");
                    c.abort();
                }
            }
            callHist.add(callRec.getIntervalHistogram());
            streamHist.add(streamRec.getIntervalHistogram());
            c.close();
            server.close();
            out.println();
            Histograms.header(out, "ms");
            Histograms.row(out, "call", callHist, "ms");
            Histograms.row(out, "stream (open to finish)", streamHist, "ms");
            verdict.check(callsOk.sum() > 0 && callsBad.sum() == 0, String.format(Locale.ROOT,
                    "calls intact %,d, corrupted %d (bound: > 0 intact, 0 corrupted)", callsOk.sum(), callsBad.sum()));
            final long bad = streamsBad.sum() + cs.serverMismatches.sum();
            verdict.check(streamsOk.sum() > 0 && bad == 0, String.format(Locale.ROOT,
                    "streams intact (CRC32C) %,d, mismatched %d (bound: > 0 intact, 0 mismatched)", streamsOk.sum(), bad));
            verdict.check(errors.sum() == 0, "errors " + errors.sum() + ", must be 0"
                    + (firstError.get() == null ? "" : " (first: " + firstError.get() + ")"));
            final long outClient = Threads.awaitNoOutstanding(clientBraid.bufferPool(), Duration.ofSeconds(10));
            final long outServer = Threads.awaitNoOutstanding(serverBraid.bufferPool(), Duration.ofSeconds(10));
            verdict.check(outClient == 0 && outServer == 0, "pooled buffers outstanding at the end: client " + outClient
                    + ", server " + outServer + ", must be 0");
        }
        final long slack = slackMib << 20;
        if (samples.size() < MIN_SAMPLES) {
            verdict.fail("too few memory samples (" + samples.size() + ") to judge flatness: run longer or sample more "
                    + "often (--sample-every)");
        } else {
            flat(verdict, "heap after GC", samples.stream().mapToLong(Sample::heap).toArray(), slack);
            flat(verdict, "direct memory", samples.stream().mapToLong(Sample::direct).toArray(), slack);
            final long maxHeap = samples.stream().mapToLong(Sample::heap).max().orElse(0);
            verdict.check(maxHeap <= maxHeapMib << 20, "heap after GC, largest sample " + Memory.mib(maxHeap)
                    + " (bound <= " + maxHeapMib + " MiB, --max-heap-mib)");
            final StreamBound bound = StreamBound.of(cfg, streams);
            final long allowed = 2 * (bound.side() + StreamBound.poolRetention());
            final long maxDirect = samples.stream().mapToLong(Sample::direct).max().orElse(0);
            verdict.check(maxDirect - directBase <= allowed, "direct memory above start, largest sample "
                    + Memory.mib(maxDirect - directBase) + " (bound <= 2 sides x design.md's bound for " + streams
                    + " streams + pool retention = " + Memory.mib(allowed) + ")");
        }
        return verdict.conclude(String.format(Locale.ROOT, "%,d calls and %,d streams intact, memory flat",
                callHist.getTotalCount(), streamHist.getTotalCount()));
    }

    /** Last third's average within tolerance (plus slack) of the first third's. */
    private void flat(final Verdict verdict, final String name, final long[] v, final long slack) {
        final int third = v.length / 3;
        double first = 0;
        double last = 0;
        for (int i = 0; i < third; i++) {
            first += v[i];
            last += v[v.length - 1 - i];
        }
        first /= third;
        last /= third;
        final double limit = first * (1 + tolerance) + slack;
        verdict.check(last <= limit, String.format(Locale.ROOT, "%s flat: last-third average %s vs first-third %s "
                + "(bound <= first x %.2f + %d MiB = %s)", name, Memory.mib((long) last), Memory.mib((long) first),
                1 + tolerance, slackMib, Memory.mib((long) limit)));
    }
}
