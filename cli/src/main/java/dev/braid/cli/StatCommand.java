package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.Connection;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code braid stat HOST:PORT}: a live view of a {@code braid serve --stats} server's connections and streams,
 * from its STATS procedure ({@link FileProtocol}), redrawn in place on a terminal.
 */
@Command(name = "stat", mixinStandardHelpOptions = true,
        description = {"Show a 'braid serve --stats' server's connections and streams: bytes and rates, calls "
                + "in flight, queues, windows and suspensions, refreshed in place on a terminal (Ctrl-C stops).",
                "Without a terminal (a pipe, a file) it prints one view unless --count says otherwise."},
        footer = {"", "Examples:", "  braid stat 127.0.0.1:7000", "  braid stat 127.0.0.1:7000 --interval 250ms",
                "  braid stat 127.0.0.1:7000 --count 1 > snapshot.txt", "",
                "Columns: IN/OUT bytes read/written by the server on that connection and their rates since the "
                        + "last view; CALLS in flight/served; STREAMS open/opened/aborted; QUEUED bytes waiting "
                        + "for the socket; SUSP times reading stopped (call limit + peer not reading).",
                "Each stream: bytes the server sent/received, received-not-read (QUEUED), written-not-sent "
                        + "(SENDQ), the window it grants, the credit the client's window leaves it, its age.",
                "", "Exit codes: 0 done, 1 the server refused STATS (not started with --stats) or the connection "
                + "failed, 2 bad usage."})
final class StatCommand implements Callable<Integer> {
    /** Clears a VT100/ANSI terminal and puts the cursor home: each view replaces the last. */
    static final String CLEAR = "\033[H\033[2J";

    @Parameters(index = "0", paramLabel = "HOST:PORT", description = "The server.")
    String endpoint;

    @Option(names = "--interval", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Time between views (default: 1s).")
    Duration interval = Duration.ofSeconds(1);

    @Option(names = "--count", paramLabel = "N", description = "Views to show, then exit (default: until "
            + "Ctrl-C on a terminal, 1 otherwise).")
    Integer count;

    @Option(names = "--backend", description = "I/O backend (default: the braid.backend property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    @Spec
    CommandSpec spec;

    /** The last view's byte counts per remote address, for the rates. */
    private final Map<String, long[]> last = new HashMap<>();
    private long lastNanos;

    @Override
    public Integer call() throws InterruptedException {
        final CommandLine cmd = spec.commandLine();
        final var address = Endpoints.parse(cmd, endpoint, -1);
        if (interval.isNegative() || interval.isZero()) {
            throw new CommandLine.ParameterException(cmd, "--interval must be more than 0");
        }
        if (count != null && count < 1) {
            throw new CommandLine.ParameterException(cmd, "--count must be at least 1");
        }
        final boolean terminal = System.console() != null && count == null;
        final int views = count != null ? count : terminal ? Integer.MAX_VALUE : 1;
        final PrintWriter out = cmd.getOut();
        try (Braid braid = TransferOptions.braid(backend);
             Connection c = TransferOptions.connect(braid, address, endpoint)) {
            final String self = String.valueOf(c.localAddress());
            for (int i = 0; i < views; i++) {
                if (i > 0) {
                    Thread.sleep(interval.toMillis());
                }
                final FileProtocol.Stats s = FileProtocol.decodeStats(c.call(FileProtocol.STATS, new byte[0]));
                final String view = render(endpoint, s, self, System.nanoTime());
                out.print(terminal ? CLEAR + view : (i > 0 ? System.lineSeparator() : "") + view);
                out.flush();
            }
            return 0;
        }
    }

    /** One view: a header, a line per connection, a line per stream under it. */
    String render(final String server, final FileProtocol.Stats s, final String self, final long now) {
        final double secs = lastNanos == 0 ? 0 : (now - lastNanos) / 1e9;
        final StringBuilder b = new StringBuilder();
        int streams = 0;
        for (FileProtocol.ConnectionView c : s.connections()) {
            streams += (int) c.streamCount();
        }
        b.append(String.format(Locale.ROOT, "braid stat %s: backend %s, up %s, %d connection%s, %d stream%s%n",
                server, s.backend(), Progress.duration(s.uptimeMillis() / 1000.0), s.connectionCount(),
                s.connectionCount() == 1 ? "" : "s", streams, streams == 1 ? "" : "s"));
        b.append(String.format(Locale.ROOT, "%-24s %10s %10s %10s %10s %9s %11s %10s %5s%n", "CONNECTION", "IN",
                "IN/s", "OUT", "OUT/s", "CALLS", "STREAMS", "QUEUED", "SUSP"));
        final Map<String, long[]> now2 = new HashMap<>();
        for (FileProtocol.ConnectionView c : s.connections()) {
            final long in = c.get("bytesRead");
            final long outBytes = c.get("bytesWritten");
            final long[] before = last.get(c.remote());
            now2.put(c.remote(), new long[] {in, outBytes});
            final String inRate = before == null || secs <= 0 ? "-" : Progress.size((long) ((in - before[0]) / secs));
            final String outRate = before == null || secs <= 0 ? "-"
                    : Progress.size((long) ((outBytes - before[1]) / secs));
            b.append(String.format(Locale.ROOT, "%-24s %10s %10s %10s %10s %9s %11s %10s %5d%s%n",
                    trimAddress(c.remote()), Progress.size(in), inRate, Progress.size(outBytes), outRate,
                    c.get("callsInFlight") + "/" + c.get("callsServed"),
                    c.get("streamsOpen") + "/" + c.get("streamsOpened") + "/" + c.get("streamsAborted"),
                    Progress.size(c.get("outboundQueuedBytes")),
                    c.get("readSuspensions") + c.get("outboundSuspensions"),
                    trimAddress(self).equals(trimAddress(c.remote())) ? "  (this view)" : ""));
            for (FileProtocol.StreamView st : c.streams()) {
                b.append(String.format(Locale.ROOT,
                        "  %-22s sent %9s  recv %9s  queued %9s  sendq %9s  window %9s  credit %9s  age %s%n",
                        name(st), Progress.size(st.get("bytesSent")), Progress.size(st.get("bytesReceived")),
                        Progress.size(st.get("queuedBytes")), Progress.size(st.get("sendQueuedBytes")),
                        Progress.size(st.get("receiveWindow")), Progress.size(st.get("sendCredit")),
                        Progress.duration(st.get("ageMillis") / 1000.0)));
            }
            if (c.streamCount() > c.streams().size()) {
                b.append(String.format(Locale.ROOT, "  ... and %d more streams%n", c.streamCount() - c.streams().size()));
            }
        }
        if (s.connectionCount() > s.connections().size()) {
            b.append(String.format(Locale.ROOT, "... and %d more connections%n",
                    s.connectionCount() - s.connections().size()));
        }
        last.clear();
        last.putAll(now2);
        lastNanos = now;
        return b.toString();
    }

    /** A stream's procedure by its name in braid serve's protocol, else as numbers; then its serial. */
    private static String name(final FileProtocol.StreamView st) {
        final String n = st.procedure().equals(FileProtocol.DOWNLOAD) ? "DOWNLOAD"
                : st.procedure().equals(FileProtocol.UPLOAD) ? "UPLOAD"
                : st.procedure().equals(FileProtocol.CONSOLE) ? "CONSOLE" : st.procedure().toString();
        return n + " #" + Integer.toUnsignedString(st.serial());
    }

    /** "/127.0.0.1:5000" (an InetSocketAddress's text) without its leading slash. */
    private static String trimAddress(final String a) {
        return a.startsWith("/") ? a.substring(1) : a;
    }
}
