package dev.braid.jmh;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import org.HdrHistogram.Histogram;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Issue 12 §5's fairness figure, TLS against plaintext, <em>interleaved</em>: {@link FairnessBenchmark} and
 * {@link TlsFairnessBenchmark} run minutes apart, and on this shared two-CPU machine the same configuration's
 * ratio moved between 0.84 and 1.71 from one run to the next (5 December, nio, load 2-3): the ratio of two
 * ratios measured at different times is mostly the machine. Here one JVM holds both fixtures (a plaintext
 * connection and a TLS one, each with its own client and server {@code Braid}) and alternates them in short
 * rounds, each round of each fixture an idle phase (64-byte calls, one in flight) then a loaded phase (the same
 * calls while two streams upload and two download 256 KiB chunks on that connection, as FairnessBenchmark's
 * {@code loaded} group does), the fixture that goes first alternating too. Both fixtures thus see the same
 * machine within seconds.
 *
 * <p>It prints each round's ratios, the ratio (loaded call p99 / idle call p99) of each fixture over all
 * rounds together (histograms merged), TLS's ratio over plaintext's (the figure; target ≤ 1.5), the
 * median of the per-round figures, and the loaded p50s (TLS / plaintext: where the typical call stands).
 *
 * <p>Usage: {@code java -cp jmh/target/benchmarks.jar dev.braid.jmh.FairnessRatioProbe [backend] [rounds]
 * [phase seconds]} (defaults: nio, 8, 2). Not a JMH benchmark: the two fixtures' phases must alternate.
 */
public final class FairnessRatioProbe {
    private FairnessRatioProbe() {
    }

    /** One fixture's merged histograms. */
    private static final class Side {
        final String name;
        final BraidFixture fixture;
        final Histogram idle = histogram();
        final Histogram loaded = histogram();
        double mbps;

        Side(final String name, final BraidFixture fixture) {
            this.name = name;
            this.fixture = fixture;
        }
    }

    public static void main(final String[] args) throws Exception {
        final String backend = args.length > 0 ? args[0] : "nio";
        final int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        final long phaseNanos = TimeUnit.MILLISECONDS.toNanos((long) (1000 * (args.length > 2
                ? Double.parseDouble(args[2]) : 2.0)));
        final Side plain = new Side("plaintext", new BraidFixture(backend, false));
        final Side tls = new Side("TLS", new BraidFixture(backend, true));
        try {
            System.out.printf(Locale.ROOT, "FairnessRatioProbe: backend %s, %d rounds, phases of %.1f s; ratio = "
                    + "loaded call p99 / idle call p99%n", backend, rounds, phaseNanos / 1e9);
            // warm-up: one short round of each, not counted
            for (Side s : List.of(plain, tls)) {
                round(s, phaseNanos / 2, histogram(), histogram());
            }
            System.out.printf(Locale.ROOT, "%-6s %-10s %9s %9s %9s %9s %8s %9s %12s%n", "round", "fixture",
                    "idle p50", "idle p99", "load p50", "load p99", "ratio", "MB/s", "TLS/plain");
            final double[] perRound = new double[rounds];
            final double[] p50PerRound = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                final List<Side> order = r % 2 == 0 ? List.of(plain, tls) : List.of(tls, plain);
                double plainRatio = 0;
                double tlsRatio = 0;
                double plainP50 = 0;
                double tlsP50 = 0;
                for (Side s : order) {
                    final Histogram idle = histogram();
                    final Histogram loaded = histogram();
                    s.mbps += round(s, phaseNanos, idle, loaded) / rounds;
                    s.idle.add(idle);
                    s.loaded.add(loaded);
                    final double ratio = p99(loaded) / p99(idle);
                    if (s == plain) {
                        plainRatio = ratio;
                        plainP50 = p50(loaded);
                    } else {
                        tlsRatio = ratio;
                        tlsP50 = p50(loaded);
                    }
                    System.out.printf(Locale.ROOT, "%-6d %-10s %9.1f %9.1f %9.1f %9.1f %8.1f %9.0f%s%n", r, s.name,
                            p50(idle), p99(idle), p50(loaded), p99(loaded), ratio, s.mbps * rounds / (r + 1),
                            s == order.get(1) ? String.format(Locale.ROOT, " %12.2f", tlsRatio / plainRatio) : "");
                }
                perRound[r] = tlsRatio / plainRatio;
                p50PerRound[r] = tlsP50 / plainP50;
            }
            System.out.println();
            for (Side s : List.of(plain, tls)) {
                System.out.printf(Locale.ROOT, "%-10s all rounds: idle p50 %.1f p99 %.1f µs, loaded p50 %.1f p99 %.1f "
                                + "µs, ratio %.1f, streams %.0f MB/s%n", s.name, p50(s.idle), p99(s.idle), p50(s.loaded),
                        p99(s.loaded), p99(s.loaded) / p99(s.idle), s.mbps);
            }
            System.out.printf(Locale.ROOT, "TLS ratio / plaintext ratio, all rounds merged: %.2f; median of the rounds: "
                            + "%.2f (target <= 1.5); loaded p50 TLS / plaintext: merged %.2f, median %.2f%n",
                    (p99(tls.loaded) / p99(tls.idle)) / (p99(plain.loaded) / p99(plain.idle)), median(perRound),
                    p50(tls.loaded) / p50(plain.loaded), median(p50PerRound));
        } finally {
            plain.fixture.close();
            tls.fixture.close();
        }
    }

    /** One round of one fixture: idle calls, then calls beside four streams. Returns the streams' MB/s. */
    private static double round(final Side s, final long phaseNanos, final Histogram idle, final Histogram loaded)
            throws InterruptedException {
        calls(s.fixture, phaseNanos, idle);
        final AtomicBoolean stop = new AtomicBoolean();
        final long[] moved = new long[4];
        final List<BraidStream> streams = new ArrayList<>();
        final List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            final boolean up = i < 2;
            final BraidStream stream = s.fixture.open(up ? BraidFixture.SINK : BraidFixture.SOURCE);
            streams.add(stream);
            final int slot = i;
            threads.add(Thread.ofPlatform().name("probe-" + (up ? "up-" : "down-") + i).start(() -> {
                final ByteBuffer chunk = ByteBuffer.allocateDirect(BraidFixture.CHUNK);
                try {
                    while (!stop.get()) {
                        if (up) {
                            stream.write(chunk.clear());
                        } else {
                            BraidFixture.readFully(stream, chunk.clear());
                        }
                        moved[slot] += chunk.capacity();
                    }
                } catch (BraidException | IllegalStateException e) {
                    // aborted at the end of the phase
                }
            }));
        }
        Thread.sleep(300); // the streams reach full speed
        final long before = Arrays.stream(moved).sum();
        final long t0 = System.nanoTime();
        calls(s.fixture, phaseNanos, loaded);
        final double mbps = (Arrays.stream(moved).sum() - before) / ((System.nanoTime() - t0) / 1e9) / 1e6;
        stop.set(true);
        for (BraidStream stream : streams) {
            stream.abort("phase over");
        }
        for (Thread t : threads) {
            t.join();
        }
        return mbps;
    }

    private static void calls(final BraidFixture f, final long nanos, final Histogram h) {
        final ByteBuffer args = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
        final ByteBuffer reply = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
        final long end = System.nanoTime() + nanos;
        long t;
        while ((t = System.nanoTime()) < end) {
            f.connection.call(BraidFixture.ECHO, args.clear(), reply.clear(), CallOptions.DEFAULT);
            h.recordValue(System.nanoTime() - t);
        }
    }

    private static Histogram histogram() {
        return new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
    }

    private static double p50(final Histogram h) {
        return h.getValueAtPercentile(50) / 1e3;
    }

    private static double p99(final Histogram h) {
        return h.getValueAtPercentile(99) / 1e3;
    }

    private static double median(final double[] v) {
        final double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
