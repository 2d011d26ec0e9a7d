package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.Reply;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.Callable;

/**
 * The first thing a new user runs: a server and a client in this process on loopback, one connection,
 * thousands of concurrent calls, latency percentiles.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Start a braid server and client on loopback, make thousands of concurrent calls on one "
                + "connection, and print calls/s and latency percentiles."},
        footer = {"", "Examples:", "  ./braid demo", "  ./braid demo --calls 100000 --concurrency 256 --payload 1024",
                "  ./braid demo --backend nio"})
final class DemoCommand implements Callable<Integer> {
    static final Procedure ECHO = Procedure.of(0x62726465, 1, 1); // "brde": the demo's program

    @Option(names = "--backend", description = "I/O backend: auto, nio, epoll, loom or a class name "
            + "(default: the braid.backend property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    @Option(names = "--calls", description = "Calls in the concurrent phase (default: ${DEFAULT-VALUE}).")
    int calls = 50_000;

    @Option(names = "--concurrency", description = "Calls in flight at once in the concurrent phase "
            + "(default: ${DEFAULT-VALUE}).")
    int concurrency = 64;

    @Option(names = "--payload", description = "Payload bytes per call and per reply (default: ${DEFAULT-VALUE}).")
    int payload = 64;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (calls < 1 || concurrency < 1 || payload < 0) {
            throw new IllegalArgumentException("--calls and --concurrency must be >= 1 and --payload >= 0");
        }
        final PrintWriter out = spec.commandLine().getOut();
        try (Braid braid = Braid.create(new BraidConfig().backend(backend))) {
            final BraidServer server = braid.server()
                    .handle(ECHO, call -> call.reply(call.args()))
                    .bind(0);
            try (server; Connection c = braid.connect(server.address())) {
                out.printf(Locale.ROOT, "braid demo: backend %s, server %s, one connection, %d-byte payloads%n",
                        braid.backendName(), server.address(), payload);
                final byte[] args = new byte[payload];
                // warm up the JIT and the pool
                run(c, args, 20_000, Math.min(concurrency, 16));
                final int sequential = Math.max(1_000, calls / 10);
                final Result one = run(c, args, sequential, 1);
                final Result many = run(c, args, calls, concurrency);
                out.println();
                out.println("phase                 calls    calls/s     p50 µs    p90 µs    p99 µs  p99.9 µs    max µs");
                one.print(out, "1 in flight");
                many.print(out, concurrency + " in flight");
                out.println();
                out.printf(Locale.ROOT, "calls made %d, late replies %d, bytes read %d, written %d%n",
                        c.stats().callsStarted(), c.stats().lateReplies(), c.stats().bytesRead(), c.stats().bytesWritten());
            }
            out.printf(Locale.ROOT, "after close: %d pooled buffers outstanding, %d allocated in all%n",
                    braid.bufferPool().outstanding(), braid.bufferPool().allocations());
            out.flush();
            return braid.bufferPool().outstanding() == 0 ? 0 : 1;
        }
    }

    /** {@code total} calls with {@code inFlight} virtual threads each calling in a loop. */
    private Result run(final Connection c, final byte[] args, final int total, final int inFlight) throws Exception {
        final Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        final AtomicInteger left = new AtomicInteger(total);
        final CountDownLatch done = new CountDownLatch(inFlight);
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<Histogram> perThread = new ArrayList<>();
        final long start = System.nanoTime();
        for (int t = 0; t < inFlight; t++) {
            final Histogram mine = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
            perThread.add(mine);
            Thread.ofVirtual().start(() -> {
                try {
                    final ByteBuffer a = ByteBuffer.wrap(args);
                    while (left.getAndDecrement() > 0) {
                        final long t0 = System.nanoTime();
                        try (Reply r = c.callAsync(ECHO, a.duplicate(), CallOptions.DEFAULT).get()) {
                            if (r.payload().remaining() != args.length) {
                                throw new IllegalStateException("echo returned " + r.payload().remaining() + " bytes");
                            }
                        }
                        mine.recordValue(System.nanoTime() - t0);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    left.set(0);
                } finally {
                    done.countDown();
                }
            });
        }
        if (!done.await(5, TimeUnit.MINUTES)) {
            throw new IllegalStateException("demo calls did not finish within 5 minutes");
        }
        final long elapsed = System.nanoTime() - start;
        if (failure.get() != null) {
            throw new IllegalStateException("a demo call failed: " + failure.get(), failure.get());
        }
        perThread.forEach(h::add);
        return new Result(total, Duration.ofNanos(elapsed), h);
    }

    private record Result(int calls, Duration elapsed, Histogram h) {
        void print(final PrintWriter out, final String phase) {
            out.printf(Locale.ROOT, "%-18s %8d %10.0f %10.1f %9.1f %9.1f %9.1f %9.1f%n", phase, calls,
                    calls / (elapsed.toNanos() / 1e9), us(h.getValueAtPercentile(50)), us(h.getValueAtPercentile(90)),
                    us(h.getValueAtPercentile(99)), us(h.getValueAtPercentile(99.9)), us(h.getMaxValue()));
        }

        private static double us(final long nanos) {
            return nanos / 1000.0;
        }
    }
}
