package dev.braid.stress;

import dev.braid.tooling.Durations;
import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.StreamOptions;
import dev.braid.StreamPacket;
import dev.braid.stress.link.LinkSpec;
import dev.braid.stress.link.PrivateNetns;
import dev.braid.stress.link.TcpProbe;
import dev.braid.stress.link.TunLink;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * braid over long links (issue 13): at each round trip and the link's rate, through each form of the link
 * emulator, plain TCP through the same link against braid with one stream and with four at once (downloads:
 * the server writes, as {@code braid get}), a 64-byte call's latency alone and beside the four streams, and
 * each side's pooled memory against design.md's bound; then the faults (blackhole, stall, reset mid-frame),
 * and optionally {@code braid get}/{@code put} through the relay. Prints one table (the figures issue 13
 * tracks) and a verdict.
 *
 * <p>Two kinds of checks: <b>targets</b> (issue 13's figures: streams at least {@code --min-ratio} of plain
 * TCP, call p50 within round trip + 2 ms, p99 within round trip + 10 ms), which braid does not meet yet, and
 * <b>functional</b> checks (memory bound, every fault handled, nothing leaked). Both print {@code [FAIL]} when
 * missed and make the verdict FAIL; {@code --allow-target-misses} turns the exit code to 0 when only targets
 * were missed, so the scenario can run in a suite before the engine work lands.
 *
 * <p>The namespace form needs root: the scenario then starts itself again in a private network namespace
 * (both forms run there; the relay uses that namespace's loopback), otherwise it says why it skips it.
 */
@Command(name = "wan", mixinStandardHelpOptions = true,
        description = "braid vs plain TCP across an emulated long link (delay, rate): throughput, call latency, "
                + "memory, faults.")
final class WanScenario implements Callable<Integer> {
    /** Calls slower than this are printed with the time they ended ({@code -Dbraid.wan.slowCallMillis}; unset: none). */
    private static final long SLOW_CALL_NANOS = Long.getLong("braid.wan.slowCallMillis") == null ? Long.MAX_VALUE
            : Long.getLong("braid.wan.slowCallMillis") * 1_000_000;
    /** Whether to print TCP's counters over each four-stream phase ({@code -Dbraid.wan.tcpCounters}). */
    private static final boolean TCP_COUNTERS = Boolean.getBoolean("braid.wan.tcpCounters");
    static final Procedure PING = Procedure.of(0x77616e00, 1, 1); // "wan"
    static final Procedure SOURCE = Procedure.of(0x77616e00, 1, 2);
    static final Procedure SINK = Procedure.of(0x77616e00, 1, 3);

    @Option(names = "--rtts", split = ",", description = "Round trips to run (default: ${DEFAULT-VALUE}).")
    List<String> rtts = List.of("2ms", "20ms", "50ms");

    @Option(names = "--rate", description = "Link rate each way, e.g. 125MB/s, 1Gbit/s (default: ${DEFAULT-VALUE}).")
    String rate = "125MB/s";

    @Option(names = "--buffer", description = "Bottleneck queue each way, e.g. 4MiB (default: one bandwidth-delay "
            + "product, at least 256 KiB).")
    String buffer;

    @Option(names = "--forms", split = ",", description = "Link forms: relay (a TCP relay: the endpoints' TCP sees "
            + "loopback), ns (network namespaces joined by TUN devices: the endpoints' TCP sees the delay; root only) "
            + "(default: ${DEFAULT-VALUE}).")
    List<String> forms = List.of("relay", "ns");

    @Option(names = "--congestion", split = ",", description = "TCP congestion controls the namespace form runs "
            + "under, one set of rows each: 'default' (the machine's, which a new namespace inherits) or a name. A "
            + "namespace other than the machine's may choose only one of net.ipv4.tcp_allowed_congestion_control; "
            + "the relay form always runs under the default (default: ${DEFAULT-VALUE}).")
    List<String> congestion = List.of("default");

    @Option(names = "--mtu", description = "MTU of the namespace form's devices (default: ${DEFAULT-VALUE}).")
    int mtu = TunLink.DEFAULT_MTU;

    @Option(names = "--backends", split = ",", description = "braid backends, both ends (default: ${DEFAULT-VALUE}).")
    List<String> backends = List.of("nio", "epoll");

    @Option(names = "--warmup", description = "Warm-up of each throughput phase, left out of its figure "
            + "(default: ${DEFAULT-VALUE}).")
    String warmup = "2s";

    @Option(names = "--duration", description = "Measured part of each phase (default: ${DEFAULT-VALUE}).")
    String duration = "5s";

    @Option(names = "--min-calls", description = "Calls each latency phase measures at least (it runs past --duration "
            + "until it has them, up to ten times --duration): with ~100 calls, as 5 s at 50 ms gives, the p99 is the "
            + "slowest call (default: ${DEFAULT-VALUE}).")
    int minCalls = 500;

    @Option(names = "--streams", description = "Streams at once in the many-streams phase (default: ${DEFAULT-VALUE}).")
    int streams = 4;

    @Option(names = "--chunk", description = "Write size of the streams, bytes (default: ${DEFAULT-VALUE}, as "
            + "braid get/put).")
    int chunk = 256 * 1024;

    @Option(names = "--payload", description = "Call payload bytes (default: ${DEFAULT-VALUE}).")
    int payload = 64;

    @Option(names = "--window", description = "initialStreamWindow, both sides (default: braid's).")
    Integer window;

    @Option(names = "--send-budget", description = "streamSendBudget, both sides (default: braid's).")
    Integer sendBudget;

    @Option(names = "--socket-send-buffer", description = "socketSendBufferSize, both sides; 0 = the OS's "
            + "autotuning (default: braid's).")
    Integer socketSendBuffer;

    @Option(names = "--min-ratio", description = "Target: braid streams / plain TCP at least (default: ${DEFAULT-VALUE}).")
    double minRatio = 0.9;

    @Option(names = "--p50-slack", description = "Target: call p50 beside the streams at most round trip + this "
            + "(default: ${DEFAULT-VALUE}).")
    String p50Slack = "2ms";

    @Option(names = "--p99-slack", description = "Target: call p99 beside the streams at most round trip + this "
            + "(default: ${DEFAULT-VALUE}).")
    String p99Slack = "10ms";

    @Option(names = "--allow-target-misses", description = "Exit 0 when only targets were missed (the functional "
            + "checks still decide); the verdict line still says FAIL.")
    boolean allowTargetMisses;

    @Option(names = "--no-faults", negatable = true, description = "Skip the fault checks.")
    boolean faults = true;

    @Option(names = "--fault-rtt", description = "Round trip of the fault checks (default: ${DEFAULT-VALUE}).")
    String faultRtt = "20ms";

    @Option(names = "--keepalive", description = "Blackhole check: keepalive interval, both sides (default: "
            + "${DEFAULT-VALUE}).")
    String keepalive = "1s";

    @Option(names = "--keepalive-count", description = "Blackhole check: keepalive count (default: ${DEFAULT-VALUE}).")
    int keepaliveCount = 3;

    @Option(names = "--stall", description = "Stall check: how long the link stops (default: ${DEFAULT-VALUE}).")
    String stall = "2s";

    @Option(names = "--stall-bytes", description = "Stall check: bytes per stream (default: ${DEFAULT-VALUE}).")
    long stallBytes = 8L << 20;

    @Option(names = "--cli", description = "Also run 'braid get' and 'put' through the relay: the command line's jar "
            + "(cli/target/braid-cli.jar), a launcher (./braid), or 'classpath' (its classes on this class path).")
    String cli;

    @Option(names = "--cli-only", description = "Run only the braid get/put part (needs --cli).")
    boolean cliOnly;

    @Option(names = "--cli-bytes", description = "Size of the file braid get/put move (default: ${DEFAULT-VALUE}).")
    String cliBytes = "512MiB";

    @Option(names = "--cli-files", description = "Files at once in the many-files transfer (default: ${DEFAULT-VALUE}).")
    int cliFiles = 4;

    private final PrintStream out = System.out;
    private final List<String> table = new ArrayList<>();
    /** The target checks that failed (the only failures {@code --allow-target-misses} forgives). */
    private final List<String> targetMisses = new ArrayList<>();

    /** What one backend did over one link. */
    record Row(String form, Duration rtt, String backend, double tcp, double one, double many, Histogram alone,
               Histogram beside, long clientPeak, long serverPeak, long bound) {
    }

    @Override
    public Integer call() throws Exception {
        List<String> runForms = forms;
        if (forms.contains("ns") && !PrivateNetns.isPrivate()) {
            final String cause = PrivateNetns.unavailabilityCause();
            if (cause == null) {
                out.println("wan: starting again in a private network namespace (the namespace form needs one)");
                return PrivateNetns.relaunch(StressMain.class.getName(), relaunchArgs(), Duration.ofHours(2));
            }
            out.println("wan: namespace form skipped: " + cause);
            runForms = forms.stream().filter(f -> !f.equals("ns")).toList();
        } else if (PrivateNetns.isPrivate()) {
            PrivateNetns.loopbackUp();
        }
        final String defaultCongestion = sysctl("net/ipv4/tcp_congestion_control");
        final long bytesPerSecond = LinkSpec.parseRate(rate);
        final Duration warm = Durations.parse(warmup);
        final Duration measure = Durations.parse(duration);
        out.printf(Locale.ROOT, "wan: %s each way; round trips %s; forms %s; backends %s; %s warm-up + %s measured "
                        + "per phase; %d-byte writes; %d-byte calls%n", LinkSpec.rate(bytesPerSecond), rtts, runForms,
                backends, Durations.format(warm), Durations.format(measure), chunk, payload);
        out.printf(Locale.ROOT, "wan: kernel: tcp_rmem %s, tcp_wmem %s, rmem_max %s, wmem_max %s, congestion control %s%s; "
                        + "%d CPUs, load %s%n",
                sysctl("net/ipv4/tcp_rmem"), sysctl("net/ipv4/tcp_wmem"), sysctl("net/core/rmem_max"),
                sysctl("net/core/wmem_max"), defaultCongestion,
                runForms.contains("ns") ? " (the namespace form's: " + String.join(", ", congestion) + ")" : "",
                Runtime.getRuntime().availableProcessors(), loadAverage());
        final Verdict verdict = new Verdict(out);
        final List<Row> rows = new ArrayList<>();
        for (String form : cliOnly ? List.<String>of() : runForms) {
            for (String cc : form.equals("ns") ? congestion : List.of("default")) {
                // sockets take the namespace's congestion control when they are made (ours alone: private)
                final String ccName = cc.equals("default") ? defaultCongestion : cc;
                if (form.equals("ns")) {
                    PrivateNetns.congestionControl(ccName);
                }
                for (String r : rtts) {
                    final LinkSpec spec = spec(Durations.parse(r), bytesPerSecond);
                    try (WanLink link = form.equals("ns") ? WanLink.namespace(spec, mtu, ccName) : WanLink.relay(spec);
                         TcpProbe probe = TcpProbe.listen(link.bindAddress())) {
                        out.println();
                        out.printf(Locale.ROOT, "[%s %s] link: %s%n", link.label(), r, spec.describe());
                        final double tcp = TcpProbe.downloadRate(link.front(probe.address()), warm, measure);
                        out.printf(Locale.ROOT, "[%s %s] plain TCP, one connection: %.1f MB/s (the link dropped %s)%n",
                                link.label(), r, tcp / 1e6, Memory.mib(link.dropped()));
                        link.closeRelays();
                        for (String backend : backends) {
                            final Row row = measure(link, backend, tcp, warm, measure);
                            rows.add(row);
                            link.closeRelays();
                            judge(row, verdict);
                        }
                    }
                }
            }
            if (form.equals("ns")) {
                PrivateNetns.congestionControl(defaultCongestion); // the fault checks' and the relay form's
            }
        }
        if (faults && !cliOnly) {
            final WanFaults f = new WanFaults(out, verdict, this);
            for (String form : runForms) {
                final LinkSpec spec = spec(Durations.parse(faultRtt), bytesPerSecond);
                for (String backend : backends) {
                    f.run(form, spec, backend);
                }
            }
        }
        if (cli != null) {
            new WanCli(out, verdict, this).run(bytesPerSecond);
        }
        printTable(rows);
        final int code = verdict.conclude(rows.size() + " links x backends measured" + (faults && !cliOnly
                ? ", every fault handled" : "") + (cli != null ? ", braid get/put through the relay" : ""));
        if (code != 0 && allowTargetMisses && verdict.failedOnly(targetMisses)) {
            out.println("exit 0: only issue 13's targets were missed (--allow-target-misses); the functional checks passed");
            return 0;
        }
        return code;
    }

    LinkSpec spec(final Duration rtt, final long bytesPerSecond) {
        final LinkSpec s = LinkSpec.of(rtt, bytesPerSecond);
        return buffer == null ? s : s.withBuffer(LinkSpec.parseBytes(buffer));
    }

    private List<String> relaunchArgs() {
        final List<String> a = new ArrayList<>();
        a.add("wan");
        a.add("--rtts=" + String.join(",", rtts));
        a.add("--rate=" + rate);
        if (buffer != null) {
            a.add("--buffer=" + buffer);
        }
        a.add("--forms=" + String.join(",", forms));
        a.add("--mtu=" + mtu);
        a.add("--congestion=" + String.join(",", congestion));
        a.add("--backends=" + String.join(",", backends));
        a.add("--warmup=" + warmup);
        a.add("--duration=" + duration);
        a.add("--streams=" + streams);
        a.add("--min-calls=" + minCalls);
        a.add("--chunk=" + chunk);
        a.add("--payload=" + payload);
        if (window != null) {
            a.add("--window=" + window);
        }
        if (sendBudget != null) {
            a.add("--send-budget=" + sendBudget);
        }
        if (socketSendBuffer != null) {
            a.add("--socket-send-buffer=" + socketSendBuffer);
        }
        a.add("--min-ratio=" + minRatio);
        a.add("--p50-slack=" + p50Slack);
        a.add("--p99-slack=" + p99Slack);
        if (allowTargetMisses) {
            a.add("--allow-target-misses");
        }
        a.add(faults ? "--faults" : "--no-faults");
        a.add("--fault-rtt=" + faultRtt);
        a.add("--keepalive=" + keepalive);
        a.add("--keepalive-count=" + keepaliveCount);
        a.add("--stall=" + stall);
        a.add("--stall-bytes=" + stallBytes);
        if (cli != null) {
            a.add("--cli=" + cli);
        }
        if (cliOnly) {
            a.add("--cli-only");
        }
        a.add("--cli-bytes=" + cliBytes);
        a.add("--cli-files=" + cliFiles);
        return a;
    }

    /** braid's configuration for either side: braid's defaults, the backend, and the overrides given. */
    BraidConfig config(final String backend) {
        final BraidConfig c = new BraidConfig().backend(backend);
        if (window != null) {
            c.initialStreamWindow(window);
        }
        if (sendBudget != null) {
            c.streamSendBudget(sendBudget);
        }
        if (socketSendBuffer != null) {
            c.socketSendBufferSize(socketSendBuffer);
        }
        if (SLOW_CALL_NANOS != Long.MAX_VALUE) { // diagnostics: long read suspensions beside the slow calls
            c.observer(new dev.braid.BraidObserver() {
                @Override
                public void readResumed(final dev.braid.Peer connection, final Side side, final Suspension reason,
                                        final long suspendedNanos) {
                    if (suspendedNanos > SLOW_CALL_NANOS / 4) {
                        out.printf(Locale.ROOT, "  %s stopped reading for %.2f ms (%s), resumed at %s%n", side,
                                suspendedNanos / 1e6, reason, java.time.LocalTime.now());
                    }
                }
            });
        }
        return c;
    }

    /** A server answering PING (echo, on the I/O thread), SOURCE (writes until aborted) and SINK (reads to the end). */
    BraidServer.Builder register(final BraidServer.Builder b) {
        return b.handle(PING, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .stream(SOURCE, (call, stream) -> {
                    call.reply(new byte[0]);
                    final ByteBuffer buf = ByteBuffer.allocateDirect(chunk);
                    try {
                        while (true) {
                            buf.clear();
                            stream.write(buf);
                        }
                    } catch (BraidException e) {
                        // the client aborted: the phase is over
                    }
                })
                .stream(SINK, (call, stream) -> {
                    call.reply(new byte[0]);
                    final ByteBuffer buf = ByteBuffer.allocateDirect(chunk);
                    try {
                        while (stream.read(buf.clear()) >= 0) {
                            // discard
                        }
                        stream.finish();
                    } catch (BraidException e) {
                        // aborted
                    }
                });
    }

    private Row measure(final WanLink link, final String backend, final double tcp, final Duration warm,
                        final Duration measure) throws Exception {
        final String tag = "[" + link.label() + " " + Durations.format(link.spec().rtt()) + " " + backend + "]";
        final BraidConfig serverCfg = config(backend);
        final BraidConfig clientCfg = config(backend);
        try (Braid serverBraid = Braid.create(serverCfg); Braid clientBraid = Braid.create(clientCfg)) {
            final BraidServer server = register(serverBraid.server()).bind(link.bindAddress());
            try (server; Connection c = clientBraid.connect(link.front(server.address()))) {
                final Memory.PeakSampler peaks = new Memory.PeakSampler(50,
                        List.of(clientBraid.bufferPool(), serverBraid.bufferPool()));
                calls(c, warm.dividedBy(4));
                final Histogram alone = calls(c, measure, minCalls);
                out.printf(Locale.ROOT, "%s calls alone: p50 %.2f ms, p99 %.2f ms (%d calls)%n", tag, ms(alone, 50),
                        ms(alone, 99), alone.getTotalCount());
                final double one = downloads(c, 1, warm, measure, null);
                out.printf(Locale.ROOT, "%s 1 stream: %.1f MB/s = %.2f x TCP%n", tag, one / 1e6, one / tcp);
                final Histogram beside = new Histogram(3_600_000_000_000L, 3);
                final long droppedBefore = link.dropped();
                final long kernelBefore = link.kernelDrops();
                final java.util.Map<String, Long> tcpBefore = TCP_COUNTERS ? WanLink.tcpCounters() : null;
                final double many = downloads(c, streams, warm, measure, beside);
                if (TCP_COUNTERS) { // diagnostics: what TCP did meanwhile
                    final java.util.Map<String, Long> after = WanLink.tcpCounters();
                    final StringBuilder b = new StringBuilder();
                    after.forEach((k, v) -> {
                        final long d = v - tcpBefore.getOrDefault(k, 0L);
                        if (d != 0) {
                            b.append(' ').append(k).append('=').append(d);
                        }
                    });
                    out.printf(Locale.ROOT, "%s TCP counters over the 4-stream phase:%s%n", tag, b);
                }
                out.printf(Locale.ROOT, "%s %d streams: %.1f MB/s = %.2f x TCP; calls beside them: p50 %.2f ms, "
                                + "p99 %.2f ms (%d calls); the link held at most %s one way and dropped %s%s%n", tag, streams,
                        many / 1e6, many / tcp, ms(beside, 50), ms(beside, 99), beside.getTotalCount(),
                        Memory.mib(link.peakHeld()), Memory.mib(link.dropped() - droppedBefore),
                        kernelBefore < 0 || link.form().equals("relay") ? ""
                                : ", its devices " + (link.kernelDrops() - kernelBefore) + " packets");
                peaks.stop();
                final long bound = StreamBound.of(serverCfg, streams).side() + StreamBound.poolRetention();
                return new Row(link.label(), link.spec().rtt(), backend, tcp, one, many, alone, beside,
                        peaks.peakPool(0), peaks.peakPool(1), bound);
            }
        }
    }

    /** {@code n} downloads at once for warm-up + measure; the bytes per second they received while measured. */
    private double downloads(final Connection c, final int n, final Duration warm, final Duration measure,
                             final Histogram callsBeside) throws Exception {
        final LongAdder bytes = new LongAdder();
        final AtomicBoolean stop = new AtomicBoolean();
        final List<BraidStream> open = new ArrayList<>();
        final List<Thread> readers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            final BraidStream s = c.openStream(SOURCE, ByteBuffer.allocate(0), StreamOptions.waitForSlot(Duration.ofSeconds(30)));
            open.add(s);
            readers.add(Thread.ofVirtual().name("wan-reader-" + i).start(() -> {
                try {
                    while (!stop.get()) {
                        final StreamPacket p = s.readPacket();
                        if (p == null) {
                            return;
                        }
                        try (p) {
                            bytes.add(p.isHole() ? p.holeLength() : p.data().remaining());
                        }
                    }
                } catch (BraidException e) {
                    // aborted at the end of the phase
                }
            }));
        }
        Thread.sleep(warm.toMillis());
        bytes.reset();
        final long t0 = System.nanoTime();
        if (callsBeside != null) {
            callsBeside.add(calls(c, measure, minCalls));
        } else {
            Thread.sleep(measure.toMillis());
        }
        final double rate = bytes.sum() / ((System.nanoTime() - t0) / 1e9);
        stop.set(true);
        for (BraidStream s : open) {
            s.abort("phase over");
        }
        for (Thread t : readers) {
            t.join();
        }
        return rate;
    }

    /** One call in flight for {@code d}; the round trips in nanoseconds. */
    Histogram calls(final Connection c, final Duration d) {
        return calls(c, d, 0);
    }

    /**
     * One call in flight for {@code d} and until {@code min} calls were made, but no longer than ten times
     * {@code d}; the round trips in nanoseconds.
     */
    Histogram calls(final Connection c, final Duration d, final int min) {
        final Histogram h = new Histogram(3_600_000_000_000L, 3);
        final ByteBuffer args = ByteBuffer.allocateDirect(payload);
        final ByteBuffer reply = ByteBuffer.allocateDirect(payload);
        final CallOptions options = CallOptions.DEFAULT;
        final long start = System.nanoTime();
        final long end = start + d.toNanos();
        final long last = start + 10 * d.toNanos();
        long now;
        while ((now = System.nanoTime()) - end < 0 || (h.getTotalCount() < min && now - last < 0)) {
            args.clear();
            reply.clear();
            c.call(PING, args, reply, options);
            final long took = System.nanoTime() - now;
            h.recordValue(took);
            if (took > SLOW_CALL_NANOS) { // -Dbraid.wan.slowCallMillis: to line them up with a log
                out.printf(Locale.ROOT, "  slow call at %s: %.2f ms%n", java.time.LocalTime.now(), took / 1e6);
            }
        }
        return h;
    }

    private void judge(final Row row, final Verdict verdict) {
        final String tag = String.format(Locale.ROOT, "[%s %s %s]", row.form, Durations.format(row.rtt), row.backend);
        final double rttMs = row.rtt.toNanos() / 1e6;
        final double p50Bound = rttMs + Durations.parse(p50Slack).toNanos() / 1e6;
        final double p99Bound = rttMs + Durations.parse(p99Slack).toNanos() / 1e6;
        target(verdict, row.one / row.tcp >= minRatio, String.format(Locale.ROOT,
                "%s 1 stream %.1f MB/s / plain TCP %.1f MB/s = %.2f (target >= %.2f)", tag, row.one / 1e6,
                row.tcp / 1e6, row.one / row.tcp, minRatio));
        target(verdict, row.many / row.tcp >= minRatio, String.format(Locale.ROOT,
                "%s %d streams %.1f MB/s / plain TCP %.1f MB/s = %.2f (target >= %.2f)", tag, streams, row.many / 1e6,
                row.tcp / 1e6, row.many / row.tcp, minRatio));
        target(verdict, ms(row.beside, 50) <= p50Bound, String.format(Locale.ROOT,
                "%s call p50 beside %d streams %.2f ms (target <= round trip + %s = %.1f ms)", tag, streams,
                ms(row.beside, 50), p50Slack, p50Bound));
        target(verdict, ms(row.beside, 99) <= p99Bound, String.format(Locale.ROOT,
                "%s call p99 beside %d streams %.2f ms (target <= round trip + %s = %.1f ms)", tag, streams,
                ms(row.beside, 99), p99Slack, p99Bound));
        verdict.check(Math.max(row.clientPeak, row.serverPeak) <= row.bound, String.format(Locale.ROOT,
                "%s pooled memory per connection: client peak %s, server peak %s (bound <= %s: design.md §8 for %d "
                        + "streams + pool retention)", tag, Memory.mib(row.clientPeak), Memory.mib(row.serverPeak),
                Memory.mib(row.bound), streams));
    }

    private void target(final Verdict verdict, final boolean ok, final String what) {
        verdict.check(ok, "target: " + what);
        targetMissed(ok, "target: " + what);
    }

    /** Records a target check (already made on the verdict) that {@code --allow-target-misses} may forgive. */
    void targetMissed(final boolean ok, final String what) {
        if (!ok) {
            targetMisses.add(what);
        }
    }

    static double ms(final Histogram h, final double percentile) {
        return h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(percentile) / 1e6;
    }

    private void printTable(final List<Row> rows) {
        if (rows.isEmpty()) {
            return;
        }
        out.println();
        out.println("issue 13's table (MB = 10^6 bytes; streams are downloads; call = 64-byte echo, 1 in flight; "
                + "ratios are to plain TCP through the same link in the same run):");
        out.println();
        out.printf(Locale.ROOT, "| form | round trip | backend | plain TCP MB/s | braid 1 stream MB/s | braid %d streams MB/s "
                + "| call p50 / p99 alone ms | call p50 / p99 beside %d streams ms | pool peak client / server MiB |%n",
                streams, streams);
        out.println("|---|---|---|---:|---:|---:|---:|---:|---:|");
        for (Row r : rows) {
            out.printf(Locale.ROOT, "| %s | %s | %s | %.1f | %.1f (%.2f) | %.1f (%.2f) | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |%n",
                    r.form, Durations.format(r.rtt), r.backend, r.tcp / 1e6, r.one / 1e6, r.one / r.tcp, r.many / 1e6,
                    r.many / r.tcp, ms(r.alone, 50), ms(r.alone, 99), ms(r.beside, 50), ms(r.beside, 99),
                    r.clientPeak / 1048576.0, r.serverPeak / 1048576.0);
        }
        for (String line : table) {
            out.println(line);
        }
        out.println();
    }

    /** Extra table lines (the command line's transfers). */
    void addTableLine(final String line) {
        table.add(line);
    }

    private static String loadAverage() {
        try {
            final String[] f = procFile("/proc/loadavg").trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (java.io.IOException | RuntimeException e) {
            return "?";
        }
    }

    /** A /proc file's text (Files.readString stops short on procfs, which reports a size of 0). */
    private static String procFile(final String path) throws java.io.IOException {
        try (java.io.InputStream in = new java.io.FileInputStream(path)) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
        }
    }

    private static String sysctl(final String name) {
        try {
            return procFile("/proc/sys/" + name).trim().replaceAll("\\s+", " ");
        } catch (java.io.IOException e) {
            return "?";
        }
    }
}
