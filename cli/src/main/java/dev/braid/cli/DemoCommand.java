package dev.braid.cli;

import dev.braid.spi.Backend;
import dev.braid.tooling.LatencyChart;
import org.HdrHistogram.Histogram;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;

/**
 * The first thing a new user runs: braid's headline made visible. A server in a JVM of its own and a client
 * in this one, on loopback, one connection; small calls alone, then the same calls while big streams move
 * data both ways on that connection; a table of call rates and latency percentiles for both, stream
 * throughput, the p99 ratio, and a chart of the percentiles. Then the same with plain sockets, each stream
 * on a connection of its own: the machine's own floor, so a reader can tell braid's share of the ratio
 * from the machine's. {@code --backend all} does braid's part on every backend that can run here. The work
 * itself is {@link DemoRun} and {@link DemoRaw}; this class reads the options, prints and draws.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
                "Start a braid server (in a JVM of its own) and a client on loopback, one connection, and show "
                        + "that small calls stay fast while large streams flow beside them:",
                "  phase 1  64-byte echo calls alone, back to back;",
                "  phase 2  the same calls while N streams move data both ways",
                "           (half uploads, half downloads) on the same connection.",
                "The server runs braid the way its docs recommend: a JVM of its own, a non-blocking handler and "
                        + "stream listeners on its I/O thread (no thread per call or stream); the client's streams "
                        + "have a thread each, as an application's would (--client-streams).",
                "Then the same two phases with plain sockets, each stream on a TCP connection of its own "
                        + "(row 'raw'): the machine's own floor beside the streams (CPU and scheduler only).",
                "Prints live progress, then calls/s and p50/p99/p99.9/max latency for both phases, the streams' "
                        + "MB/s and the p99 ratio (phase 2 / phase 1), and writes a latency chart (PNG).",
                "Takes about 2 x --duration + 2 x --warmup + 2 s per backend, and as long again for the raw "
                        + "floor: about 50 s by default, about a minute and a half with --backend all (three "
                        + "backends)."},
        footer = {"", "Examples:",
                "  ./braid demo                        # auto backend, 10 s per phase",
                "  ./braid demo --backend all          # each backend that can run here",
                "  ./braid demo --backend nio --duration 5s --streams 8",
                "  ./braid demo --chart /tmp/latency.png",
                "  ./braid demo --tls                  # plaintext, then the same over TLS 1.3",
                "  ./braid demo --tls --tls-engine jdk # TLS with the JDK's engines instead of BoringSSL's",
                "  BRAID_JAVA_OPTS=-Dbraid.backend=loom ./braid demo",
                "  ./braid demo --server in-process --client-streams virtual   # the first demo's setup",
                "",
                "Exit codes: 0 success, 1 failure (a backend failed, buffers leaked, the chart could not be "
                        + "written), 2 bad usage."})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--backend", paramLabel = "NAME", description = "I/O backend: auto, nio, epoll, loom, a "
            + "class name, or all (each available one in turn). Default: the braid.backend property, else auto.")
    String backend = System.getProperty("braid.backend", "auto");

    @Option(names = "--duration", paramLabel = "TIME", converter = DurationConverter.class, defaultValue = "10s",
            description = "Length of each phase, per backend, e.g. 10s, 2.5s, 500ms (default: ${DEFAULT-VALUE}).")
    Duration duration;

    @Option(names = "--warmup", paramLabel = "TIME", converter = DurationConverter.class, defaultValue = "1s",
            description = "Unmeasured calls before phase 1, and unmeasured streaming before phase 2 (at least "
                    + "0.5 s), per backend; 0 for none (default: ${DEFAULT-VALUE}).")
    Duration warmup;

    @Option(names = "--streams", paramLabel = "N", description = "Streams in phase 2, half uploads and half "
            + "downloads (an odd one uploads) (default: ${DEFAULT-VALUE}).")
    int streams = 4;

    @Option(names = "--concurrency", paramLabel = "N", description = "Calls in flight at once, one calling "
            + "thread each (default: ${DEFAULT-VALUE}).")
    int concurrency = 1;

    @Option(names = "--payload", paramLabel = "BYTES", description = "Bytes per call and per reply "
            + "(default: ${DEFAULT-VALUE}).")
    int payload = DemoRun.PAYLOAD_DEFAULT;

    @Option(names = "--chart", paramLabel = "FILE", description = "Where to write the latency chart, a PNG "
            + "(default: ${DEFAULT-VALUE}).")
    Path chart = Path.of("braid-demo.png");

    @Option(names = "--no-chart", description = "Do not write the chart.")
    boolean noChart;

    @Option(names = "--server", paramLabel = "WHERE", description = "process: the server runs in a JVM of its "
            + "own (default), as it would in a deployment; in-process: in the demo's JVM, sharing its CPUs' "
            + "caches, heap, JIT and garbage collector with the client.")
    String server = "process";

    @Option(names = "--client-streams", paramLabel = "HOW", description = "How the client's stream ends run: "
            + "platform (a thread each, blocking writes and reads; default), virtual (a virtual thread each) or "
            + "listener (non-blocking, on the client's I/O thread).")
    String clientStreams = DemoRun.PLATFORM;

    @Option(names = "--no-raw", description = "Skip the plain-socket floor.")
    boolean noRaw;

    @Option(names = "--tls", description = "Run each backend's calls and streams a second time over TLS 1.3 "
            + "(a throwaway CA and certificate, made for the run and deleted after it), beside the plaintext "
            + "figures, so the cost of TLS shows (rows BACKEND+tls).")
    boolean tls;

    @Option(names = "--tls-engine", paramLabel = "ENGINE", converter = TlsCliOptions.EngineConverter.class,
            description = "With --tls: whose TLS engines both sides use: auto (the default: BoringSSL's where it "
                    + "loads, else the JDK's), jdk or openssl.")
    TlsEngine tlsEngine = TlsEngine.AUTO;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        validate();
        final PrintWriter out = spec.commandLine().getOut();
        final PrintWriter err = spec.commandLine().getErr();
        final DemoProgress progress = new DemoProgress(err, DemoProgress.stdoutIsTerminal());
        final boolean serverProcess = !server.trim().equalsIgnoreCase("in-process");
        final DemoRun.Settings settings = new DemoRun.Settings(warmup, duration, streams, payload, concurrency,
                serverProcess, clientStreams.trim().toLowerCase(Locale.ROOT));
        final boolean all = backend.trim().equalsIgnoreCase("all");

        out.printf(Locale.ROOT, "braid demo: %d-byte echo calls (%d in flight) alone, then beside %d streams "
                        + "(%d up, %d down), one loopback connection; %s per phase, %s warm-up%n", payload,
                concurrency, streams, settings.uploads(), settings.downloads(), DurationConverter.format(duration),
                DurationConverter.format(warmup));
        out.printf(Locale.ROOT, "server in %s (non-blocking handler and stream listeners); streams: %s%s%n",
                serverProcess ? "a JVM of its own" : "this JVM", DemoRun.describe(settings.clientStreams()),
                noRaw ? "" : "; then plain sockets, one connection per stream (the machine's floor)");
        final List<String> toRun = new ArrayList<>();
        final List<String> problems = new ArrayList<>();
        if (all) {
            for (Backend b : installedBackends()) {
                if (b.isAvailable()) {
                    toRun.add(b.name());
                } else {
                    final String line = b.name() + ": skipped, cannot run here: " + b.unavailabilityCause();
                    out.println(line.replace('\n', ' '));
                }
            }
            if (toRun.isEmpty()) {
                throw new IllegalStateException("no backend can run here (installed: "
                        + installedBackends().stream().map(Backend::name).toList() + ")");
            }
            out.println("backends, in turn: " + String.join(", ", toRun));
        } else {
            toRun.add(backend.trim());
        }
        out.flush();

        final List<DemoRun.Result> results = new ArrayList<>();
        final DemoTls certificates = tls ? DemoTls.create(tlsEngine) : null;
        if (certificates != null) {
            out.println("TLS 1.3 with " + certificates.label() + "'s engines on both sides (--tls-engine "
                    + (certificates.client.engine().equals(dev.braid.TlsOptions.JDK) ? "openssl for BoringSSL's" : "jdk for the JDK's") + ")");
            out.flush();
        }
        try {
            for (String name : toRun) {
                try {
                    results.add(new DemoRun(name, settings, progress).run());
                    if (certificates != null) {
                        results.add(new DemoRun(name, settings, progress, certificates).run());
                    }
                } catch (IOException | RuntimeException e) {
                    if (!all) {
                        throw e;
                    }
                    problems.add(name + " failed: " + Main.oneLine(e));
                    out.println(name + ": failed: " + Main.oneLine(e));
                    if (verbose()) {
                        e.printStackTrace(err);
                    }
                }
            }

        } finally {
            if (certificates != null) {
                certificates.close();
            }
        }
        DemoRun.Result raw = null;
        if (!noRaw && !results.isEmpty()) {
            try {
                raw = runRaw(settings, progress, serverProcess);
            } catch (IOException | RuntimeException e) {
                problems.add("the raw floor failed: " + Main.oneLine(e));
                out.println("raw: failed: " + Main.oneLine(e));
            }
        }

        out.println();
        printTable(out, results, raw);
        out.println();
        out.println("p99 ratio = p99 beside the streams / p99 alone; 1.00: the streams cost the calls nothing.");
        if (raw != null) {
            out.printf(Locale.ROOT, "raw = plain sockets, each stream on a TCP connection of its own: nothing is "
                    + "multiplexed or queued ahead of a call, so its ratio (%.2f) is the machine's own floor on %d "
                    + "CPUs (scheduler and CPU contention); braid's share is how far its ratio sits above it.%n",
                    p99(raw.beside()) / p99(raw.alone()), Runtime.getRuntime().availableProcessors());
            for (DemoRun.Result r : results) {
                out.printf(Locale.ROOT, "%s beside the streams: p99 %.1f µs = %.2f x raw's p99 there (%.1f µs); "
                                + "p50 %.1f µs (raw %.1f µs): the stream bytes queued ahead of a call on one "
                                + "connection%n", r.backend(), p99(r.beside()), p99(r.beside()) / p99(raw.beside()),
                        p99(raw.beside()), r.beside().latency().getValueAtPercentile(50) / 1e3,
                        raw.beside().latency().getValueAtPercentile(50) / 1e3);
            }
        } else {
            out.printf(Locale.ROOT, "On %d CPUs part of it is the machine's own contention (docs/benchmarks.md, "
                    + "\"Fairness\").%n", Runtime.getRuntime().availableProcessors());
        }
        for (DemoRun.Result t : results) {
            if (!t.backend().endsWith("+tls")) {
                continue;
            }
            for (DemoRun.Result p : results) {
                if (p.backend().equals(t.backend().substring(0, t.backend().length() - 4))) {
                    out.printf(Locale.ROOT, "%s against %s: calls alone p50 %.1f µs (%.2f x plaintext), p99 %.1f "
                                    + "µs (%.2f x); streams %.1f MB/s (%.2f x plaintext); p99 ratio %.2f (plaintext "
                                    + "%.2f)%n", t.backend(), p.backend(),
                            t.alone().latency().getValueAtPercentile(50) / 1e3,
                            t.alone().latency().getValueAtPercentile(50)
                                    / (double) Math.max(1, p.alone().latency().getValueAtPercentile(50)),
                            p99(t.alone()), p99(t.alone()) / p99(p.alone()),
                            t.beside().streamMegabytesPerSecond(),
                            t.beside().streamMegabytesPerSecond() / p.beside().streamMegabytesPerSecond(),
                            p99(t.beside()) / p99(t.alone()), p99(p.beside()) / p99(p.alone()));
                }
            }
        }
        out.println("MB = 10^6 bytes.");
        for (DemoRun.Result r : results) {
            out.printf(Locale.ROOT, "%s streams: %.1f MB/s up + %.1f MB/s down, %d-byte writes%n", r.backend(),
                    r.beside().upBytes() / 1e6 / r.beside().seconds(),
                    r.beside().downBytes() / 1e6 / r.beside().seconds(), DemoRun.CHUNK);
        }
        long leaked = 0;
        for (DemoRun.Result r : results) {
            if (r.outstanding() < 0) {
                problems.add(r.backend() + ": the server process did not report its pooled buffers after close");
            } else if (r.outstanding() != 0) {
                problems.add(r.backend() + " left " + r.outstanding() + " pooled buffers outstanding after close");
            }
            leaked += Math.max(0, r.outstanding());
        }
        out.printf(Locale.ROOT, "after close: %d pooled buffers outstanding (client and server, %s)%n", leaked,
                results.size() == 1 ? results.get(0).backend() : "every backend");
        if (!noChart && !results.isEmpty()) {
            try {
                writeChart(results, raw);
                out.println("chart: " + chart.toAbsolutePath() + " (latency percentiles, both phases, "
                        + (results.size() == 1 ? "" : "every backend, ") + "PNG)");
            } catch (IOException | RuntimeException | Error e) { // AWT without fonts throws errors
                problems.add("cannot write the chart " + chart.toAbsolutePath() + ": " + e.getClass().getSimpleName()
                        + (e.getMessage() == null ? "" : " " + Main.oneLine(e)));
            }
        }
        out.flush();
        for (String p : problems) {
            err.println("braid: " + p);
        }
        err.flush();
        return problems.isEmpty() ? 0 : 1;
    }

    /** The plain-socket floor, against a raw server where braid's servers ran (a JVM of its own, or this one). */
    private static DemoRun.Result runRaw(final DemoRun.Settings settings, final DemoProgress progress,
                                         final boolean serverProcess) throws IOException, InterruptedException {
        if (serverProcess) {
            try (DemoServerProcess p = DemoServerProcess.start(DemoServerProcess.RAW_ONLY, true)) {
                return new DemoRaw(p.raw, settings, progress).run();
            }
        }
        try (DemoServers s = DemoServers.start(null, true)) {
            return new DemoRaw(s.raw.address(), settings, progress).run();
        }
    }

    /** Whether {@code --verbose} was given, before or after {@code demo} (it is inherited). */
    private boolean verbose() {
        for (CommandLine c = spec.commandLine(); c != null; c = c.getParent()) {
            if (c.getParseResult() != null && c.getParseResult().hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }

    private void validate() {
        final List<String> bad = new ArrayList<>();
        if (duration.isZero()) {
            bad.add("--duration must be more than 0");
        }
        if (streams < 1) {
            bad.add("--streams must be at least 1 (was " + streams + ")");
        }
        if (concurrency < 1 || concurrency > 1024) {
            bad.add("--concurrency must be 1 to 1024 (was " + concurrency + ")");
        }
        if (payload < 0 || payload > 1 << 20) {
            bad.add("--payload must be 0 to 1048576 bytes (was " + payload + ")");
        }
        if (!List.of(DemoRun.PLATFORM, DemoRun.VIRTUAL, DemoRun.LISTENER)
                .contains(clientStreams.trim().toLowerCase(Locale.ROOT))) {
            bad.add("--client-streams must be platform, virtual or listener (was " + clientStreams + ")");
        }
        if (!server.trim().equalsIgnoreCase("process") && !server.trim().equalsIgnoreCase("in-process")) {
            bad.add("--server must be process or in-process (was " + server + ")");
        }
        if (!tls && spec.commandLine().getParseResult().hasMatchedOption("--tls-engine")) {
            bad.add("--tls-engine chooses the engines of --tls; give --tls too");
        }
        if (!bad.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), String.join("; ", bad));
        }
    }

    /** Installed backends, the one {@code auto} prefers first. */
    static List<Backend> installedBackends() {
        final List<Backend> all = new ArrayList<>();
        ServiceLoader.load(Backend.class, DemoCommand.class.getClassLoader()).forEach(all::add);
        all.sort(Comparator.comparingInt(Backend::autoPriority).reversed());
        return all;
    }

    static final String HEADER = String.format(Locale.ROOT, "%-10s %-18s %9s %9s %9s %9s %9s %9s %13s %10s",
            "backend", "phase", "calls", "calls/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "streams MB/s",
            "p99 ratio");

    private static void printTable(final PrintWriter out, final List<DemoRun.Result> results,
                                   final DemoRun.Result raw) {
        out.println(HEADER);
        final List<DemoRun.Result> all = new ArrayList<>(results);
        if (raw != null) {
            all.add(raw);
        }
        for (DemoRun.Result r : all) {
            row(out, r.backend(), r.alone(), "-", "-");
            final double ratio = p99(r.beside()) / p99(r.alone());
            row(out, r.backend(), r.beside(), String.format(Locale.ROOT, "%.1f", r.beside().streamMegabytesPerSecond()),
                    String.format(Locale.ROOT, "%.2f", ratio));
        }
    }

    private static void row(final PrintWriter out, final String backend, final DemoRun.Phase p, final String mbps,
                            final String ratio) {
        final Histogram h = p.latency();
        out.printf(Locale.ROOT, "%-10s %-18s %9d %9.0f %9.1f %9.1f %9.1f %9.1f %13s %10s%n", backend, p.name(),
                p.calls(), p.callsPerSecond(), h.getValueAtPercentile(50) / 1e3, p99(p),
                h.getValueAtPercentile(99.9) / 1e3, h.getMaxValue() / 1e3, mbps, ratio);
    }

    private static double p99(final DemoRun.Phase p) {
        return p.latency().getValueAtPercentile(99) / 1e3;
    }

    private void writeChart(final List<DemoRun.Result> results, final DemoRun.Result raw) throws IOException {
        final List<LatencyChart.Series> series = new ArrayList<>();
        final List<DemoRun.Result> all = new ArrayList<>(results);
        if (raw != null) {
            all.add(raw);
        }
        for (DemoRun.Result r : all) {
            series.add(new LatencyChart.Series(r.backend(), false, micros(r.alone().latency())));
            series.add(new LatencyChart.Series(r.backend(), true, micros(r.beside().latency())));
        }
        final String beside = "beside " + streams + (streams == 1 ? " stream" : " streams");
        new LatencyChart("braid demo: call latency, calls alone vs " + beside,
                String.format(Locale.ROOT, "%d-byte echo, %d in flight, one loopback connection (raw: one per "
                                + "stream), %s per phase; %d streams: %d up, %d down; %d CPUs", payload, concurrency,
                        DurationConverter.format(duration), streams, (streams + 1) / 2, streams / 2,
                        Runtime.getRuntime().availableProcessors()),
                new LatencyChart.Legend("backend", "calls alone", beside), series).writePng(chart);
    }

    private static double[] micros(final Histogram h) {
        final double[] v = new double[LatencyChart.PERCENTILES.length + 1];
        for (int i = 0; i < LatencyChart.PERCENTILES.length; i++) {
            v[i] = h.getValueAtPercentile(LatencyChart.PERCENTILES[i]) / 1e3;
        }
        v[v.length - 1] = h.getMaxValue() / 1e3;
        return v;
    }
}
