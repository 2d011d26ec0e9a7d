package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.buffer.BufferPool;
import dev.braid.tooling.Durations;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * Issue 11 §3: one attack on a braid server while a well-behaved client keeps calling. The attackers are raw
 * sockets on loopback (virtual threads); the server and both clients run in this JVM, the server with a pool of
 * its own, so its memory is that pool's. Checked: the good client's call p99 during the attack stays under
 * {@code --max-p99-ratio} times its idle p99; a fresh client connects (TCP and HELLO) within
 * {@code --max-hello} every half second; the server pool never holds more than its budget
 * ({@code --budget}, {@code maxPooledBytes}); and within {@code --settle} after the attack the server pool is back
 * to its idle size (what it held before, plus its idle retention).
 *
 * <p>Attacks: {@code large-header} (headers announcing 32 MiB frames, then a byte a second), {@code dribble}
 * (a valid call sent a byte every 100 ms), {@code connections} (many connections that say nothing),
 * {@code ping-flood} and {@code call-flood} (requests without ever reading the answers, a 4 KiB receive
 * buffer), {@code open-abort} (braid clients opening a stream and aborting it at once, in a loop, connecting
 * again whenever the server closes them; the count of connections closed for maxPeerStreamAbortsPerWindow and
 * of read suspensions for maxStreamOpensPerSecond are printed),
 * {@code descriptors} (a server in a child process under {@code prlimit --nofile} whose descriptors an attacker
 * exhausts: {@link DescriptorAttack}, with checks of its own).
 */
@Command(name = "attack", mixinStandardHelpOptions = true,
        description = "An attack on a server while a good client calls: p99, HELLO time, server memory.")
final class AttackScenario implements Callable<Integer> {
    static final Procedure ECHO = Procedure.of(0x61747461, 1, 1); // "atta"
    static final Procedure STREAM = Procedure.of(0x61747461, 1, 2);
    private static final int HEADER = 28;
    /** open-abort: an attacker whose stream slots are all taken waits for one, instead of spinning. */
    private static final dev.braid.StreamOptions SLOT_WAIT = dev.braid.StreamOptions.waitForSlot(Duration.ofSeconds(1));

    @Option(names = "--attack", required = true, description = "large-header, dribble, connections, ping-flood, "
            + "call-flood, open-abort or descriptors.")
    String attack;

    @Option(names = "--fd-limit", description = "descriptors: the server process's descriptor limit, prlimit "
            + "--nofile (default: ${DEFAULT-VALUE}).")
    int fdLimit = 256;

    @Option(names = "--exhausted-for", description = "descriptors: how long descriptors stay exhausted while log "
            + "lines and CPU time are counted (default: ${DEFAULT-VALUE}).")
    String exhaustedFor = "3s";

    @Option(names = "--max-cpu", description = "descriptors: the server's CPU time while exhausted, at most this "
            + "share of one CPU (default: ${DEFAULT-VALUE}).")
    double maxCpu = 0.25;

    @Option(names = "--max-log-lines", description = "descriptors: log lines the server may write while exhausted "
            + "(default: ${DEFAULT-VALUE}).")
    int maxLogLines = 2;

    @Option(names = "--recover", description = "descriptors: longest wait, once the attacker left, for a new client "
            + "to be served (default: ${DEFAULT-VALUE}).")
    String recover = "10s";

    @Option(names = "--attackers", description = "Attacking connections (default: ${DEFAULT-VALUE}).")
    int attackers = 100;

    @Option(names = "--duration", description = "How long the attack runs (default: ${DEFAULT-VALUE}).")
    String duration = "10s";

    @Option(names = "--settle", description = "Longest wait for the server's memory to come back (default: ${DEFAULT-VALUE}).")
    String settle = "30s";

    @Option(names = "--idle-calls", description = "Calls measured before the attack, after as many unmeasured "
            + "(default: ${DEFAULT-VALUE}).")
    int idleCalls = 2_000;

    @Option(names = "--max-p99-ratio", description = "Largest p99 under attack / idle p99 (default: ${DEFAULT-VALUE}).")
    double maxP99Ratio = 10;

    @Option(names = "--max-hello", description = "Longest connect + HELLO of a fresh client (default: ${DEFAULT-VALUE}).")
    String maxHello = "1s";

    @Option(names = "--budget", description = "The server pool's budget, maxPooledBytes (default: ${DEFAULT-VALUE}).")
    long budget = 256L << 20;

    private final PrintStream out = System.out;
    /** open-abort: connections the attackers opened (the first of each, and every reconnection). */
    private final LongAdder attackConnections = new LongAdder();
    /** open-abort: attacker connections the server closed for maxPeerStreamAbortsPerWindow (its observer). */
    private final LongAdder closedByAbortLimit = new LongAdder();
    /** open-abort: times the server stopped reading an attacker for maxStreamOpensPerSecond (its observer). */
    private final LongAdder openThrottled = new LongAdder();

    @Override
    public Integer call() throws Exception {
        if ("descriptors".equals(attack)) {
            return new DescriptorAttack(out, fdLimit, Durations.parse(exhaustedFor), maxCpu, maxLogLines,
                    Durations.parse(recover)).run();
        }
        final Duration attackFor = Durations.parse(duration);
        final Duration settleFor = Durations.parse(settle);
        final long helloBound = Durations.parse(maxHello).toNanos();
        final Verdict verdict = new Verdict(out);
        BufferPool serverPool = null;
        final dev.braid.BraidObserver countAbortLimit = new dev.braid.BraidObserver() {
            @Override
            public void limitRefused(final dev.braid.Peer connection, final Side side, final String limit,
                                     final long value, final String detail) {
                if ("maxPeerStreamAbortsPerWindow".equals(limit)) {
                    closedByAbortLimit.increment();
                }
            }

            @Override
            public void readSuspended(final dev.braid.Peer connection, final Side side, final Suspension reason) {
                if (reason == Suspension.STREAM_OPEN_RATE) {
                    openThrottled.increment();
                }
            }
        };
        try (Braid serverBraid = Braid.create(new BraidConfig().maxPooledBytes(budget) // its own pool, trimmed when idle
                     .observer(countAbortLimit));
             Braid clientBraid = Braid.create(new BraidConfig());
             // the attackers' braid clients (open-abort) have I/O threads of their own, as another host would:
             // sharing the good client's client-side loops, they measured the client's contention, not the server's
             Braid attackBraid = Braid.create(new BraidConfig())) {
            serverPool = serverBraid.bufferPool();
            final BraidServer server = serverBraid.server()
                    .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                    .stream(STREAM, (call, stream) -> {
                        call.reply(new byte[0]);
                        final ByteBuffer sink = ByteBuffer.allocate(4096);
                        while (stream.read(sink.clear()) >= 0) {
                            // drain until the client ends or aborts
                        }
                    })
                    .bind(0);
            final InetSocketAddress addr = server.address();
            final BufferPool pool = serverPool;
            final Connection good = clientBraid.connect(addr);
            final byte[] payload = new byte[64];
            for (int i = 0; i < idleCalls; i++) {
                good.call(ECHO, payload); // warm-up (JIT, pools): not measured
            }
            final Histogram idle = Histograms.nanos();
            for (int i = 0; i < idleCalls; i++) {
                final long t0 = System.nanoTime();
                good.call(ECHO, payload);
                idle.recordValue(System.nanoTime() - t0);
            }
            final long idleBytes = serverPool.allocatedBytes();

            final AtomicBoolean stop = new AtomicBoolean();
            final ConcurrentLinkedQueue<AutoCloseable> opened = new ConcurrentLinkedQueue<>();
            final LongAdder attackOps = new LongAdder();
            final List<Thread> threads = new java.util.ArrayList<>();
            for (int i = 0; i < attackers; i++) {
                threads.add(Thread.ofVirtual().name("attacker-" + i).start(() -> attack(addr, stop, opened, attackOps,
                        attackBraid)));
            }
            final Memory.PeakSampler peaks = new Memory.PeakSampler(50, List.of(pool));
            final Histogram underAttack = Histograms.nanos();
            final Histogram hello = Histograms.nanos();
            long helloFailures = 0;
            String helloError = null;
            final long end = System.nanoTime() + attackFor.toNanos();
            long nextHello = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
            while (System.nanoTime() < end) {
                final long t0 = System.nanoTime();
                good.call(ECHO, payload);
                underAttack.recordValue(System.nanoTime() - t0);
                if (System.nanoTime() >= nextHello) {
                    nextHello = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
                    final long h0 = System.nanoTime();
                    try (Connection fresh = clientBraid.connect(addr)) {
                        fresh.call(ECHO, payload);
                        hello.recordValue(System.nanoTime() - h0);
                    } catch (RuntimeException e) {
                        helloFailures++;
                        helloError = e.toString();
                    }
                }
            }
            stop.set(true);
            for (AutoCloseable c; (c = opened.poll()) != null; ) {
                try {
                    c.close();
                } catch (Exception e) {
                    // closing the attack anyway
                }
            }
            for (Thread t : threads) {
                t.join(10_000);
            }
            for (AutoCloseable c; (c = opened.poll()) != null; ) { // opened meanwhile
                c.close();
            }
            peaks.stop();
            final long peakServer = peaks.peakPool(0);
            // back to idle: what the pool held before plus what it may retain idle
            final long idleBound = idleBytes + 16L * BufferPool.IDLE_RETAINED_BYTES_PER_CLASS;
            final long settleStart = System.nanoTime();
            while (serverPool.allocatedBytes() > idleBound && System.nanoTime() - settleStart < settleFor.toNanos()) {
                Thread.sleep(200);
            }
            final long settleMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - settleStart);
            final long after = serverPool.allocatedBytes();

            Histograms.header(out, "us");
            Histograms.row(out, "idle", idle, "us");
            Histograms.row(out, attack, underAttack, "us");
            Histograms.row(out, "hello", hello, "us");
            final double ratio = Histograms.p99Micros(underAttack) / Math.max(1e-9, Histograms.p99Micros(idle));
            out.printf(Locale.ROOT, "attack %s: %d attackers, %d attack operations, server pool idle %s, peak %s, "
                            + "after %s (%d ms after the attack), JVM direct %s%n", attack, attackers, attackOps.sum(),
                    Memory.mib(idleBytes), Memory.mib(peakServer), Memory.mib(after), settleMillis,
                    Memory.mib(Memory.direct()));
            if ("open-abort".equals(attack)) {
                out.printf(Locale.ROOT, "attack open-abort: %d attacker connections, %d of them closed by the server "
                                + "for maxPeerStreamAbortsPerWindow (%d per %d ms)%n", attackConnections.sum(),
                        closedByAbortLimit.sum(), serverBraid.config().maxPeerStreamAbortsPerWindow(),
                        serverBraid.config().peerStreamAbortWindow().toMillis());
                out.printf(Locale.ROOT, "attack open-abort: the server stopped reading an attacker %d times for "
                                + "maxStreamOpensPerSecond (%d a second, an abort costing %d opens)%n", openThrottled.sum(),
                        serverBraid.config().maxStreamOpensPerSecond(),
                        BraidConfig.STREAM_ABORT_OPEN_COST);
            }
            verdict.check(ratio <= maxP99Ratio, String.format(Locale.ROOT, "good client's p99 ratio %.1f <= %.1f",
                    ratio, maxP99Ratio));
            verdict.check(helloFailures == 0, "fresh clients connected: " + hello.getTotalCount() + " ok, "
                    + helloFailures + " failed" + (helloError != null ? " (" + helloError + ")" : ""));
            verdict.check(hello.getTotalCount() == 0 || hello.getMaxValue() <= helloBound, String.format(Locale.ROOT,
                    "slowest connect + HELLO %.1f ms <= %d ms", hello.getMaxValue() / 1e6, helloBound / 1_000_000));
            verdict.check(peakServer <= budget, "server pool peak " + Memory.mib(peakServer) + " <= budget "
                    + Memory.mib(budget));
            verdict.check(after <= idleBound, "server pool back to " + Memory.mib(after) + " <= idle "
                    + Memory.mib(idleBound) + " within " + settleFor.toSeconds() + " s");
            good.close();
            server.close();
        }
        verdict.check(serverPool != null && serverPool.outstanding() == 0, "server pool outstanding " + serverPool.outstanding() + " == 0");
        return verdict.conclude(attack);
    }

    /** One attacker: runs its attack until {@code stop}; every socket or connection it opens goes to {@code opened}. */
    private void attack(final InetSocketAddress addr, final AtomicBoolean stop,
                        final ConcurrentLinkedQueue<AutoCloseable> opened, final LongAdder ops, final Braid braid) {
        try {
            switch (attack) {
                case "large-header" -> {
                    final Socket s = raw(addr, opened, 0);
                    final OutputStream o = s.getOutputStream();
                    o.write(header(32 << 20, ECHO, 0, 1));
                    while (!stop.get()) {
                        o.write(0);
                        ops.increment();
                        Thread.sleep(1_000);
                    }
                }
                case "dribble" -> {
                    final Socket s = raw(addr, opened, 0);
                    final OutputStream o = s.getOutputStream();
                    final byte[] frame = ByteBuffer.allocate(HEADER + 64).put(header(HEADER + 64, ECHO, 0, 1)).array();
                    int i = 0;
                    while (!stop.get()) {
                        o.write(frame[i++ % frame.length]);
                        ops.increment();
                        Thread.sleep(100);
                    }
                }
                case "connections" -> {
                    raw(addr, opened, 0);
                    ops.increment();
                }
                case "ping-flood" -> flood(raw(addr, opened, 4096), header(HEADER, null, 1, 0), stop, ops);
                case "call-flood" -> flood(raw(addr, opened, 4096), header(HEADER + 4, ECHO, 0, 1), stop, ops);
                case "open-abort" -> {
                    // as a real attacker would: when the server closes the connection, open another and go on
                    while (!stop.get()) {
                        final Connection c;
                        try {
                            c = braid.connect(addr);
                        } catch (RuntimeException e) {
                            Thread.sleep(10); // refused (a connection bound): try again shortly
                            continue;
                        }
                        opened.add(c);
                        attackConnections.increment();
                        try {
                            while (!stop.get() && c.isOpen()) {
                                final BraidStream st;
                                try {
                                    st = c.openStream(STREAM, ByteBuffer.allocate(0), SLOT_WAIT);
                                } catch (RuntimeException e) {
                                    continue; // refused, or closed: the loop's condition tells
                                }
                                st.abort("attack");
                                ops.increment();
                            }
                        } finally {
                            c.abort();
                            opened.remove(c);
                        }
                    }
                }
                default -> throw new IllegalArgumentException("unknown attack " + attack);
            }
        } catch (IOException | RuntimeException e) {
            // the server closed the attacker, or the attack ended: what the scenario expects
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Socket raw(final InetSocketAddress addr, final ConcurrentLinkedQueue<AutoCloseable> opened,
                              final int receiveBuffer) throws IOException {
        final Socket s = new Socket();
        if (receiveBuffer > 0) {
            s.setReceiveBufferSize(receiveBuffer);
        }
        opened.add(s);
        s.connect(addr, 10_000);
        return s;
    }

    /** Writes {@code frame} over and over in batches, never reading, until stopped or closed. */
    private static void flood(final Socket s, final byte[] frame, final AtomicBoolean stop, final LongAdder ops)
            throws IOException {
        final byte[] batch = new byte[frame.length * 256];
        for (int i = 0; i < 256; i++) {
            System.arraycopy(frame, 0, batch, i * frame.length, frame.length);
        }
        final OutputStream o = s.getOutputStream();
        while (!stop.get()) {
            o.write(batch);
            ops.add(256);
        }
    }

    /**
     * A frame header: a CALL of {@code p} (type 0, status OK) when {@code p} is not null, else a keepalive MESSAGE
     * (program 0x6b656570, version 1, procedure {@code proc}); a CALL of {@code HEADER + 4} bytes carries 4 zero bytes.
     */
    private static byte[] header(final int length, final Procedure p, final int proc, final int serial) {
        final ByteBuffer b = ByteBuffer.allocate(length <= HEADER + 4 ? length : HEADER);
        if (p != null) {
            b.putInt(length).putInt(p.program()).putInt(p.version()).putInt(p.procedure()).putInt(0).putInt(serial)
                    .putInt(0);
        } else {
            b.putInt(length).putInt(0x6b656570).putInt(1).putInt(proc).putInt(2).putInt(0).putInt(0);
        }
        return b.array();
    }
}
