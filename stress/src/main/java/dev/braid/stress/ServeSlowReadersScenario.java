package dev.braid.stress;

import dev.braid.tooling.Durations;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.StreamOptions;
import dev.braid.StreamPacket;
import dev.braid.cli.FileServer;
import dev.braid.cli.ServeLimits;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;

/**
 * The slow-reader attack on {@code braid serve} (issue 11, §2.1), bounded: {@code --attackers} connections keep
 * opening downloads of a {@code --file-size} file and never read them, for {@code --duration}, against a
 * {@link FileServer} with its limits, while a well-behaved client on its own connection keeps listing the
 * directory (a call) and reconnecting (HELLO). Both sides in one JVM, on loopback, each with its own
 * {@code Braid}.
 *
 * <p>Verdict: the server never admits more than {@code --max-transfers} transfers nor holds more descriptors
 * on the file; its pool stays within the transfers' bound plus the connections' read buffers plus pool
 * retention; the well-behaved client's call p99 stays under {@code --max-p99-ratio} times its p99 before the
 * attack (timing figure) and every reconnection completes HELLO within 1 s; after the attack every transfer
 * ends within 30 s and the file downloads whole; no pooled buffer outstanding once all is closed.
 */
@Command(name = "serve-slow-readers", mixinStandardHelpOptions = true,
        description = "braid serve against downloads nobody reads: bounded transfers, others still served, recovery.")
final class ServeSlowReadersScenario implements Callable<Integer> {
    private static final int BRFS = 0x62726673; // docs/cli.md, "The wire"
    static final Procedure LIST = Procedure.of(BRFS, 1, 1);
    static final Procedure DOWNLOAD = Procedure.of(BRFS, 1, 2);

    @Option(names = "--attackers", description = "Attacking connections (default: ${DEFAULT-VALUE}).")
    int attackers = 32;

    @Option(names = "--per-connection", description = "Downloads each attacker keeps open (default: ${DEFAULT-VALUE}).")
    int perConnection = 16;

    @Option(names = "--file-size", description = "Size of the served file, bytes (default: ${DEFAULT-VALUE}).")
    int fileSize = 8 << 20;

    @Option(names = "--max-transfers", description = "The server's --max-transfers (default: ${DEFAULT-VALUE}).")
    int maxTransfers = 64;

    @Option(names = "--stall-timeout", description = "The server's --stall-timeout (default: ${DEFAULT-VALUE}).")
    String stallTimeout = "3s";

    @Option(names = "--duration", description = "How long the attack lasts (default: ${DEFAULT-VALUE}).")
    String duration = "20s";

    @Option(names = "--baseline", description = "Well-behaved calls measured before the attack (default: ${DEFAULT-VALUE}).")
    String baseline = "5s";

    @Option(names = "--max-p99-ratio", description = "Verdict: the client's call p99 during the attack / before, at "
            + "most (default: ${DEFAULT-VALUE}).")
    double maxP99Ratio = 10.0;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        final Duration attack = Durations.parse(duration);
        final ServeLimits limits = ServeLimits.DEFAULT.withTransfers(maxTransfers, maxTransfers)
                .withStallTimeout(Durations.parse(stallTimeout));
        final Path root = Files.createTempDirectory("braid-stress-serve");
        final Path file = root.resolve("big");
        final byte[] content = new byte[fileSize];
        new Random(11).nextBytes(content);
        Files.write(file, content);
        final Verdict verdict = new Verdict(out);
        final FileServer server = FileServer.start(root, new InetSocketAddress("127.0.0.1", 0), new BraidConfig(),
                limits, null, line -> { });
        final Braid attackerBraid = Braid.create(new BraidConfig());
        final Braid clientBraid = Braid.create(new BraidConfig());
        try {
            final InetSocketAddress address = (InetSocketAddress) server.address(); // bound to 127.0.0.1 above
            out.printf(Locale.ROOT, "serve-slow-readers: backend %s, %d attackers x %d downloads of %s, limits: %d "
                            + "transfers, stall timeout %s; attack %s%n", server.braid().backendName(), attackers,
                    perConnection, Memory.mib(fileSize), maxTransfers, stallTimeout, Durations.format(attack));
            final Path real = file.toRealPath();
            Histograms.header(out, "µs");
            final Histogram idle;
            try (Connection good = clientBraid.connect(address)) {
                idle = calls(good, Durations.parse(baseline), () -> { });
            }
            Histograms.row(out, "calls before the attack", idle, "µs");

            final AtomicBoolean attacking = new AtomicBoolean(true);
            final LongAdder opened = new LongAdder();
            final LongAdder refused = new LongAdder();
            final AtomicLong peakTransfers = new AtomicLong();
            final AtomicLong peakDescriptors = new AtomicLong();
            final AtomicLong peakPool = new AtomicLong();
            final List<Thread> threads = new ArrayList<>();
            final List<Connection> attackerConns = new ArrayList<>();
            for (int a = 0; a < attackers; a++) {
                final Connection c = attackerBraid.connect(address);
                attackerConns.add(c);
                threads.add(Thread.ofVirtual().name("stress-attacker-" + a).start(() -> attack(c, attacking, opened, refused)));
            }
            final Histogram hello = Histograms.nanos();
            final Runnable sample = () -> {
                peakTransfers.accumulateAndGet(server.transfersInProgress(), Math::max);
                peakDescriptors.accumulateAndGet(descriptorsOn(real), Math::max);
                peakPool.accumulateAndGet(server.braid().bufferPool().allocatedBytes(), Math::max);
            };
            final Histogram during;
            try (Connection good = clientBraid.connect(address)) {
                final long[] nextHello = {System.nanoTime()};
                during = calls(good, attack, () -> {
                    sample.run();
                    if (System.nanoTime() >= nextHello[0]) { // a fresh connection every 250 ms: its HELLO
                        nextHello[0] = System.nanoTime() + 250_000_000L;
                        final long t0 = System.nanoTime();
                        final Connection fresh = clientBraid.connect(address);
                        hello.recordValue(System.nanoTime() - t0);
                        fresh.close();
                    }
                });
            }
            attacking.set(false);
            for (Thread t : threads) {
                t.join();
            }
            Histograms.row(out, "calls during the attack", during, "µs");
            Histograms.row(out, "HELLO during the attack", hello, "µs");
            out.printf(Locale.ROOT, "attack: %,d downloads opened, %,d refused; peaks: %d transfers, %d descriptors on "
                            + "the file, server pool %s%n", opened.sum(), refused.sum(), peakTransfers.get(),
                    peakDescriptors.get(), Memory.mib(peakPool.get()));

            verdict.check(peakTransfers.get() <= maxTransfers, "peak transfers " + peakTransfers.get() + " <= "
                    + maxTransfers);
            verdict.check(peakDescriptors.get() <= maxTransfers, "peak descriptors on the file "
                    + peakDescriptors.get() + " <= " + maxTransfers);
            final long poolBound = limits.transferMemoryBound()
                    + (long) (attackers + 2) * server.braid().config().readBufferSize() + StreamBound.poolRetention();
            verdict.check(peakPool.get() <= poolBound, "server pool peak " + Memory.mib(peakPool.get()) + " <= "
                    + Memory.mib(poolBound) + " (transfers " + Memory.mib(limits.transferMemoryBound())
                    + " + read buffers + pool retention)");
            final double ratio = Histograms.p99Micros(during) / Math.max(1.0, Histograms.p99Micros(idle));
            verdict.check(ratio <= maxP99Ratio, String.format(Locale.ROOT, "call p99 ratio during/before %.2f <= %.1f "
                    + "(timing)", ratio, maxP99Ratio));
            verdict.check(hello.getTotalCount() > 0 && hello.getMaxValue() <= 1_000_000_000L, String.format(Locale.ROOT,
                    "HELLO max %.1f ms <= 1000 ms (%d connections)", hello.getMaxValue() / 1e6, hello.getTotalCount()));

            for (Connection c : attackerConns) {
                c.abort();
            }
            final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (server.transfersInProgress() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            verdict.check(server.transfersInProgress() == 0, "transfers 30 s after the attack: "
                    + server.transfersInProgress() + ", must be 0");
            try (Connection fresh = clientBraid.connect(address)) {
                final byte[] got = download(fresh);
                verdict.check(java.util.Arrays.equals(got, content), "the file downloads whole after the attack ("
                        + got.length + " of " + content.length + " bytes, same content)");
            }
        } finally {
            attackerBraid.close();
            clientBraid.close();
            server.close();
            try (Stream<Path> s = Files.walk(root)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        final long outServer = Threads.awaitNoOutstanding(server.braid().bufferPool(), Duration.ofSeconds(10));
        final long outAttacker = Threads.awaitNoOutstanding(attackerBraid.bufferPool(), Duration.ofSeconds(10));
        final long outClient = Threads.awaitNoOutstanding(clientBraid.bufferPool(), Duration.ofSeconds(10));
        verdict.check(outServer + outAttacker + outClient == 0, "pooled buffers outstanding after close: server "
                + outServer + ", attacker " + outAttacker + ", client " + outClient + ", must be 0");
        return verdict.conclude("slow readers held to " + maxTransfers + " transfers, others served, recovered");
    }

    private static byte[] pathRequest(final String path) {
        final byte[] p = path.getBytes(StandardCharsets.UTF_8);
        final ByteBuffer b = ByteBuffer.allocate(4 + ((p.length + 3) & ~3) + 4);
        b.putInt(p.length).put(p);
        b.position(4 + ((p.length + 3) & ~3));
        b.putInt(0); // flags
        return b.array();
    }

    /** One attacker: keeps {@code perConnection} downloads open, never reads, reopens what the server aborts. */
    private void attack(final Connection c, final AtomicBoolean attacking, final LongAdder opened,
                        final LongAdder refused) {
        final List<BraidStream> held = new ArrayList<>();
        try {
            while (attacking.get()) {
                held.removeIf(s -> {
                    if (!s.isOpen()) {
                        s.close();
                        return true;
                    }
                    return false;
                });
                if (held.size() < perConnection) {
                    try {
                        held.add(c.openStream(DOWNLOAD, ByteBuffer.wrap(pathRequest("big")), StreamOptions.DEFAULT));
                        opened.increment();
                    } catch (BraidException e) {
                        refused.increment();
                        Thread.sleep(20);
                    }
                } else {
                    Thread.sleep(20);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (BraidException e) {
            // the connection went: the attack on it is over
        } finally {
            for (BraidStream s : held) {
                s.abort("attack over");
            }
        }
    }

    /** LIST calls back to back for {@code d}, {@code between} run after each; returns their latencies. */
    private static Histogram calls(final Connection c, final Duration d, final Runnable between) {
        final Histogram h = Histograms.nanos();
        final long end = System.nanoTime() + d.toNanos();
        final byte[] args = pathRequest("");
        while (System.nanoTime() < end) {
            final long t0 = System.nanoTime();
            c.call(LIST, args);
            h.recordValue(System.nanoTime() - t0);
            between.run();
        }
        return h;
    }

    private static byte[] download(final Connection c) {
        final BraidStream s = c.openStream(DOWNLOAD, ByteBuffer.wrap(pathRequest("big")), StreamOptions.DEFAULT);
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (StreamPacket next = s.readPacket(); next != null; next = s.readPacket()) {
            try (StreamPacket p = next) {
                final ByteBuffer d = p.data();
                final byte[] b = new byte[d.remaining()];
                d.get(b);
                out.writeBytes(b);
            }
        }
        s.finish();
        return out.toByteArray();
    }

    /** Descriptors this process holds on {@code p}. */
    private static long descriptorsOn(final Path p) {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(p);
                } catch (Exception gone) {
                    return false;
                }
            }).count();
        } catch (java.io.IOException e) {
            return 0;
        }
    }
}
