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

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * braid's headline, measured: one client makes small calls in a loop (one in flight) on a connection, first
 * alone, then while N streams on the same connection send as fast as they can. Prints call latency
 * percentiles for both phases, the streams' throughput, and the p99 ratio. Verdict: the call p99 under
 * {@code --verdict-streams} streams is within {@code --max-p99-ratio} of the p99 alone, every echo came back
 * intact, and no pooled buffer is outstanding at the end. The ratio is a timing figure: on a small shared
 * machine it can fail from noise, and the verdict says by how much.
 */
@Command(name = "fairness", mixinStandardHelpOptions = true,
        description = "Small-call latency with and without saturating streams on the same connection.")
final class FairnessScenario implements Callable<Integer> {
    static final Procedure PING = Procedure.of(0x66616972, 1, 1); // "fair"
    static final Procedure SINK = Procedure.of(0x66616972, 1, 2);

    @Option(names = "--streams", split = ",", description = "Stream counts to run, e.g. 1,4,16 (default: ${DEFAULT-VALUE}).")
    List<Integer> streamCounts = List.of(1, 4, 16);

    @Option(names = "--max-p99-ratio", description = "Verdict: call p99 with --verdict-streams streams / p99 alone "
            + "must be at most this (default: ${DEFAULT-VALUE}).")
    double maxP99Ratio = 3.0;

    @Option(names = "--verdict-streams", description = "Which stream count the verdict judges; the largest run if "
            + "absent from --streams (default: ${DEFAULT-VALUE}).")
    int verdictStreams = 4;

    @Option(names = "--warmup", description = "Warm-up before the first phase (default: ${DEFAULT-VALUE}).")
    String warmup = "2s";

    @Option(names = "--duration", description = "Length of each phase, e.g. 10s (default: ${DEFAULT-VALUE}).")
    String duration = "10s";

    @Option(names = "--payload", description = "Call payload bytes (default: ${DEFAULT-VALUE}).")
    int payload = 64;

    @Option(names = "--no-extensions", description = "Do not negotiate braid's extensions (libvirt-compatible mode).")
    boolean noExtensions;

    @Override
    public Integer call() throws Exception {
        final Duration phase = Durations.parse(duration);
        final int judged = streamCounts.contains(verdictStreams) ? verdictStreams
                : streamCounts.stream().max(Integer::compare).orElse(0);
        double judgedRatio = Double.NaN;
        double judgedMbps = 0;
        Histogram idle = null;
        Histogram judgedBusy = null;
        long outstanding;
        try (Braid braid = Braid.create(new BraidConfig().extensions(!noExtensions))) {
            final BraidServer server = braid.server()
                    .handle(PING, call -> call.reply(call.args()))
                    .stream(SINK, (call, stream) -> {
                        call.reply(new byte[0]);
                        final ByteBuffer b = ByteBuffer.allocateDirect(256 * 1024);
                        try {
                            while (stream.read(b) >= 0) {
                                b.clear();
                            }
                            stream.finish();
                        } catch (BraidException e) {
                            // aborted at the end of the phase
                        }
                    })
                    .bind(0);
            try (server; Connection c = braid.connect(server.address())) {
                System.out.printf(Locale.ROOT, "fairness: backend %s, extensions %s, %d-byte calls, phases of %s%n",
                        braid.backendName(), c.extensionsNegotiated(), payload, Durations.format(phase));
                calls(c, Durations.parse(warmup));
                System.out.println();
                System.out.println("phase                  calls   calls/s    p50 µs    p90 µs    p99 µs  p99.9 µs    max µs  streams MB/s");
                idle = calls(c, phase);
                print("calls alone", idle, phase, 0);
                for (int n : streamCounts) {
                    final LongAdder bytes = new LongAdder();
                    final AtomicBoolean stop = new AtomicBoolean();
                    final List<Thread> writers = new ArrayList<>();
                    final List<BraidStream> streams = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        final BraidStream s = c.openStream(SINK, ByteBuffer.allocate(0),
                                StreamOptions.waitForSlot(Duration.ofSeconds(30)));
                        streams.add(s);
                        writers.add(Thread.ofVirtual().start(() -> {
                            final ByteBuffer chunk = ByteBuffer.allocateDirect(256 * 1024);
                            try {
                                while (!stop.get()) {
                                    chunk.clear();
                                    s.write(chunk);
                                    bytes.add(chunk.capacity());
                                }
                            } catch (BraidException e) {
                                // aborted below
                            }
                        }));
                    }
                    Thread.sleep(500); // let the streams reach full speed
                    bytes.reset();
                    final long t0 = System.nanoTime();
                    final Histogram busy = calls(c, phase);
                    final double seconds = (System.nanoTime() - t0) / 1e9;
                    final double mbps = bytes.sum() / seconds / 1e6;
                    stop.set(true);
                    for (BraidStream s : streams) {
                        s.abort("phase over");
                    }
                    for (Thread t : writers) {
                        t.join();
                    }
                    print(n + (n == 1 ? " stream" : " streams"), busy, phase, mbps);
                    final double ratio = busy.getValueAtPercentile(99) / (double) idle.getValueAtPercentile(99);
                    System.out.printf(Locale.ROOT, "  p99 with %d streams / p99 alone = %.2f; per stream %.0f MB/s%n", n,
                            ratio, mbps / n);
                    if (n == judged) {
                        judgedRatio = ratio;
                        judgedMbps = mbps;
                        judgedBusy = busy;
                    }
                }
            }
            outstanding = Threads.awaitNoOutstanding(braid.bufferPool(), Duration.ofSeconds(10));
        }
        final Verdict verdict = new Verdict(System.out);
        if (judgedBusy == null) {
            verdict.fail("no phase with streams ran (--streams " + streamCounts + ")");
        } else {
            verdict.check(judgedRatio <= maxP99Ratio, String.format(Locale.ROOT,
                    "call p99 with %d streams %.1f µs / alone %.1f µs = ratio %.2f (bound <= %.2f; streams moved %.0f MB/s)",
                    judged, Histograms.p99Micros(judgedBusy), Histograms.p99Micros(idle), judgedRatio, maxP99Ratio,
                    judgedMbps));
            verdict.check(judgedMbps > 0, String.format(Locale.ROOT, "stream throughput with %d streams %.0f MB/s (bound > 0)",
                    judged, judgedMbps));
        }
        verdict.check(badEchoes == 0, "calls whose echo came back altered " + badEchoes + ", must be 0");
        verdict.check(outstanding == 0, "pooled buffers outstanding at the end " + outstanding + ", must be 0");
        return verdict.conclude(String.format(Locale.ROOT, "call p99 ratio %.2f with %d streams", judgedRatio, judged));
    }

    /** Echoes that did not come back intact (the calling thread only). */
    private long badEchoes;

    private Histogram calls(final Connection c, final Duration d) throws Exception {
        final Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(30), 3);
        final ByteBuffer args = ByteBuffer.allocateDirect(payload);
        for (int i = 0; i < payload; i++) {
            args.put(i, (byte) (i * 31 + 7));
        }
        final long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            final long t0 = System.nanoTime();
            try (Reply r = c.callAsync(PING, args.duplicate(), CallOptions.DEFAULT).get()) {
                h.recordValue(System.nanoTime() - t0);
                if (!r.payload().equals(args)) {
                    badEchoes++;
                }
            }
        }
        return h;
    }

    private static void print(final String name, final Histogram h, final Duration d, final double mbps) {
        System.out.printf(Locale.ROOT, "%-18s %9d %9.0f %9.1f %9.1f %9.1f %9.1f %9.1f  %12.0f%n", name,
                h.getTotalCount(), h.getTotalCount() / (d.toNanos() / 1e9), h.getValueAtPercentile(50) / 1e3,
                h.getValueAtPercentile(90) / 1e3, h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3,
                h.getMaxValue() / 1e3, mbps);
    }
}
