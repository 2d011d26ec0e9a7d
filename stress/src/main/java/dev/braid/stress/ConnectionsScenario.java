package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.tooling.Durations;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * Many connections from one client Braid to one server: connected concurrently in batches, all open at
 * once, each making a few calls whose answers are checked, then all closed. Verdict: every connection
 * made, every call answered correctly, every connection closed on both sides, no pooled buffer outstanding
 * on either side, braid's threads back to the count before the connections.
 */
@Command(name = "connections", mixinStandardHelpOptions = true,
        description = "N connections to one server, a few checked calls each; leaks after close.")
final class ConnectionsScenario implements Callable<Integer> {
    static final Procedure ECHO = Procedure.of(0x73747273, 3, 1);

    @Option(names = "--connections", description = "Connections open at once (default: ${DEFAULT-VALUE}).")
    int connections = 1_000;

    @Option(names = "--calls", description = "Calls per connection (default: ${DEFAULT-VALUE}).")
    int calls = 5;

    @Option(names = "--batch", description = "Connections started concurrently per batch (default: ${DEFAULT-VALUE}).")
    int batch = 100;

    @Option(names = "--payload", description = "Call payload bytes, at least 8 (default: ${DEFAULT-VALUE}).")
    int payload = 64;

    @Option(names = "--duration", description = "Repeat rounds (connect, call, close) until this much time passed; "
            + "0 = one round (default: ${DEFAULT-VALUE}).")
    String duration = "0s";

    @Option(names = "--timeout", description = "A round taking longer than this is reported as a hang (default: ${DEFAULT-VALUE}).")
    String timeout = "120s";

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        final Duration runFor = Durations.parse(duration);
        final Duration roundTimeout = Durations.parse(timeout);
        final int size = Math.max(8, payload);
        final Verdict verdict;
        final String fds = fileDescriptorProblem();
        if (fds != null) {
            out.println("connections: " + fds);
            return new Verdict(out).fail(fds).conclude("");
        }
        try (Braid serverBraid = Braid.create(new BraidConfig()); Braid clientBraid = Braid.create(new BraidConfig())) {
            final BraidServer server = serverBraid.server().handle(ECHO, call -> call.reply(call.args())).bind(0);
            // one connection first: braid starts some threads lazily (each Braid's timer), they are not per connection
            // Warm every I/O loop on both sides (a loop's thread starts with its first connection, and connections
            // are spread over the loops in turn), so that a loop thread is not counted as new after the close.
            final int loops = Math.max(clientBraid.config().ioThreads(), serverBraid.config().ioThreads());
            final List<Connection> warm = new ArrayList<>();
            for (int i = 0; i < loops; i++) {
                warm.add(clientBraid.connect(server.address()));
            }
            for (Connection w : warm) {
                w.call(ECHO, new byte[8]);
                w.close();
            }
            awaitServerConnections(server, 0);
            final List<String> namesBefore = Threads.braidNames();
            final int threadsBefore = namesBefore.size();
            final int platformBefore = ManagementFactory.getThreadMXBean().getThreadCount();
            out.printf(Locale.ROOT, "connections: backend %s, %,d connections in batches of %d, %d calls each, %d-byte "
                    + "payloads; braid threads before: %d%n", clientBraid.backendName(), connections, batch, calls, size,
                    threadsBefore);
            final Histogram connect = Histograms.nanos();
            final Histogram latency = Histograms.nanos();
            final LongAdder connectFailures = new LongAdder();
            final LongAdder good = new LongAdder();
            final LongAdder wrong = new LongAdder();
            final LongAdder failed = new LongAdder();
            final AtomicReference<String> firstError = new AtomicReference<>();
            int peakServerConnections = Integer.MAX_VALUE;
            int stillOpenClient = 0;
            int stillOpenServer = 0;
            int rounds = 0;
            String hang = null;
            final long start = System.nanoTime();
            do {
                final long deadline = System.nanoTime() + roundTimeout.toNanos();
                final Recorder connectRec = new Recorder(TimeUnit.HOURS.toNanos(1), 3);
                final Recorder callRec = new Recorder(TimeUnit.HOURS.toNanos(1), 3);
                final List<Connection> open = new ArrayList<>(connections);
                final long r0 = System.nanoTime();
                for (int first = 0; first < connections && hang == null; first += batch) {
                    final List<CompletableFuture<Connection>> futures = new ArrayList<>();
                    for (int i = first; i < Math.min(connections, first + batch); i++) {
                        final long t0 = System.nanoTime();
                        futures.add(clientBraid.connectAsync(server.address())
                                .whenComplete((conn, e) -> connectRec.recordValue(System.nanoTime() - t0)));
                    }
                    for (CompletableFuture<Connection> f : futures) {
                        try {
                            open.add(f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
                        } catch (java.util.concurrent.TimeoutException e) {
                            f.cancel(false);
                            hang = "hang: connecting took longer than the " + Durations.format(roundTimeout) + " timeout";
                        } catch (java.util.concurrent.ExecutionException e) {
                            connectFailures.increment();
                            firstError.compareAndSet(null, "connect: " + e.getCause());
                        }
                    }
                }
                final double connectSeconds = (System.nanoTime() - r0) / 1e9;
                peakServerConnections = Math.min(peakServerConnections, awaitServerConnections(server, open.size()));
                final List<Thread> callers = new ArrayList<>();
                for (int ci = 0; ci < open.size(); ci++) {
                    final Connection c = open.get(ci);
                    final int id = ci;
                    callers.add(Thread.ofVirtual().start(() -> {
                        for (int k = 0; k < calls; k++) {
                            final ByteBuffer args = ByteBuffer.allocate(size).putInt(0, id).putInt(4, k);
                            final long t0 = System.nanoTime();
                            try (Reply r = c.callAsync(ECHO, args, CallOptions.timeout(roundTimeout)).get()) {
                                callRec.recordValue(System.nanoTime() - t0);
                                if (r.payload().equals(args.rewind())) {
                                    good.increment();
                                } else {
                                    wrong.increment();
                                }
                            } catch (Exception e) {
                                failed.increment();
                                firstError.compareAndSet(null, "call: " + e);
                            }
                        }
                    }));
                }
                for (Thread t : callers) {
                    if (!t.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())))) {
                        hang = "hang: calls did not finish within the " + Durations.format(roundTimeout) + " timeout";
                        break;
                    }
                }
                final long c0 = System.nanoTime();
                final List<Thread> closers = new ArrayList<>();
                for (int first = 0; first < open.size(); first += batch) {
                    final List<Connection> some = open.subList(first, Math.min(open.size(), first + batch));
                    closers.add(Thread.ofVirtual().start(() -> some.forEach(Connection::close)));
                }
                for (Thread t : closers) {
                    t.join();
                }
                stillOpenClient += (int) open.stream().filter(Connection::isOpen).count();
                stillOpenServer = awaitServerConnections(server, 0);
                connect.add(connectRec.getIntervalHistogram());
                latency.add(callRec.getIntervalHistogram());
                rounds++;
                out.printf(Locale.ROOT, "round %d: %,d connected in %.2f s (server saw %,d at once), calls done, closed in "
                        + "%.2f s%n", rounds, open.size(), connectSeconds, peakServerConnections, (System.nanoTime() - c0) / 1e9);
            } while (hang == null && System.nanoTime() - start < runFor.toNanos());
            out.println();
            Histograms.header(out, "ms");
            Histograms.row(out, "connect (incl. HELLO)", connect, "ms");
            Histograms.row(out, "call", latency, "ms");
            verdict = new Verdict(out);
            if (hang != null) {
                verdict.fail(hang);
            }
            final long wanted = (long) rounds * connections;
            verdict.check(connectFailures.sum() == 0 && connect.getTotalCount() == wanted, String.format(Locale.ROOT,
                    "connections made %,d of %,d (%d failed)%s", connect.getTotalCount() - connectFailures.sum(), wanted,
                    connectFailures.sum(), firstError.get() == null ? "" : ", first error: " + firstError.get()));
            verdict.check(peakServerConnections == connections, String.format(Locale.ROOT,
                    "server connections open at once %,d, must be %,d", peakServerConnections, connections));
            verdict.check(good.sum() == wanted * calls && wrong.sum() == 0 && failed.sum() == 0, String.format(Locale.ROOT,
                    "calls answered correctly %,d of %,d (%d wrong answers, %d failed)", good.sum(), wanted * calls,
                    wrong.sum(), failed.sum()));
            verdict.check(stillOpenClient == 0 && stillOpenServer == 0, "connections still open after close: client "
                    + stillOpenClient + ", server " + stillOpenServer + ", must be 0");
            final long outClient = Threads.awaitNoOutstanding(clientBraid.bufferPool(), Duration.ofSeconds(10));
            final long outServer = Threads.awaitNoOutstanding(serverBraid.bufferPool(), Duration.ofSeconds(10));
            verdict.check(outClient == 0 && outServer == 0, "pooled buffers outstanding after close: client " + outClient
                    + ", server " + outServer + ", must be 0");
            final int threadsAfter = Threads.awaitBraidThreadsAtMost(threadsBefore, Duration.ofSeconds(10));
            final List<String> extra = new ArrayList<>(Threads.braidNames());
            extra.removeAll(namesBefore);
            verdict.check(threadsAfter <= threadsBefore, "braid threads (platform and virtual) after close " + threadsAfter
                    + ", before the connections " + threadsBefore + (extra.isEmpty() ? "" : " (new: "
                    + String.join(", ", extra.subList(0, Math.min(10, extra.size()))) + ")")
                    + "; all JVM platform threads " + platformBefore + " -> "
                    + ManagementFactory.getThreadMXBean().getThreadCount());
            server.close();
        }
        final int left = Threads.awaitBraidThreadsAtMost(0, Duration.ofSeconds(10));
        verdict.check(left == 0, "braid threads alive after both Braids closed " + left + ", must be 0");
        return verdict.conclude(String.format(Locale.ROOT, "%,d connections, every call answered, nothing left behind",
                connections));
    }

    /** Waits (up to 10 s) until the server holds {@code n} connections; returns how many it holds. */
    private static int awaitServerConnections(final BraidServer server, final int n) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int have = server.connections().size();
        while (have != n && System.nanoTime() < deadline) {
            Thread.sleep(10);
            have = server.connections().size();
        }
        return have;
    }

    /** Null if the file-descriptor limit allows two sockets per connection (both ends live here), else why not. */
    private String fileDescriptorProblem() {
        if (!(ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean os)) {
            return null;
        }
        final long need = os.getOpenFileDescriptorCount() + 2L * connections + 256;
        if (os.getMaxFileDescriptorCount() < need) {
            return String.format(Locale.ROOT, "file-descriptor limit too low: %,d connections need about %,d descriptors "
                    + "(two sockets each, both ends are in this process, plus %d open and 256 spare) but the limit "
                    + "(ulimit -n) is %,d; raise it (ulimit -n %d) or lower --connections", connections, need,
                    os.getOpenFileDescriptorCount(), os.getMaxFileDescriptorCount(), need);
        }
        return null;
    }
}
