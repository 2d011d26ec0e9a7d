package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.StreamOptions;
import org.jline.terminal.Attributes;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/**
 * {@code braid console HOST:PORT}: attach this terminal to the server's console command. Two threads: the
 * stream's reader copies output to stdout; the stream's writer (a daemon, since a blocked read of stdin cannot
 * be interrupted) copies stdin to the stream and watches for the escape key.
 */
@Command(name = "console", mixinStandardHelpOptions = true,
        description = {"Attach to the console of a 'braid serve --console CMD' server, like virsh console: your "
                + "keystrokes go to CMD's stdin, its output comes back. On a terminal, raw mode is set through "
                + "JLine (and restored on exit) and Ctrl-] (the escape key, as in telnet) detaches.",
                "When stdin is not a terminal it is sent as is; its end closes CMD's stdin, and the command ends "
                + "when CMD does."},
        footer = {"", "Examples:", "  braid console 127.0.0.1:7000",
                "  echo 'uname -a' | braid console 127.0.0.1:7000",
                "  braid console --tls-ca ca.pem --tls-cert me.pem --tls-key me.key host.example:7000   # mutual TLS", "",
                "Exit codes: 0 detached or the console command ended, 1 the connection or the stream failed, "
                + "2 bad usage."})
final class ConsoleCommand implements Callable<Integer> {
    /** Ctrl-]: telnet's escape character. */
    static final int ESCAPE = 0x1d;

    @Parameters(index = "0", paramLabel = "HOST:PORT", description = "The server: HOST:PORT, or unix:PATH for a Unix domain socket.")
    String endpoint;

    @Option(names = "--backend", description = "I/O backend (default: the braid.backend property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    @picocli.CommandLine.Mixin
    TlsCliOptions tls;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        final CommandLine cmd = spec.commandLine();
        final var address = Endpoints.parse(cmd, endpoint, -1);
        final boolean terminal = Progress.isTerminal() && System.console() != null;
        final PrintStream stdout = System.out;
        try (Braid braid = TransferOptions.braid(backend, tls.client(cmd));
             Connection c = TransferOptions.connect(braid, address, endpoint)) {
            final BraidStream s;
            try {
                s = c.openStream(FileProtocol.CONSOLE, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
            } catch (BraidException e) {
                throw Endpoints.failure("cannot open the console: " + Endpoints.describe(e), e);
            }
            final CompletableFuture<String> ended = new CompletableFuture<>();
            final RawTerminal raw = terminal ? RawTerminal.enter() : null;
            final Thread restore = new Thread(() -> raw.restore(), "braid-terminal-restore");
            if (raw != null) {
                Runtime.getRuntime().addShutdownHook(restore);
            }
            try {
                System.err.print("braid console: connected to " + endpoint + "; escape character is '^]' (Ctrl-])"
                        + (terminal ? "\r\n" : "\n"));
                System.err.flush();
                final InputStream in = raw != null ? raw.input() : System.in;
                Thread.ofPlatform().daemon().name("braid-console-in").start(() -> pumpInput(c, s, in, ended));
                pumpOutput(s, stdout, ended);
                final String why = ended.join();
                System.err.print((terminal ? "\r\n" : "") + "braid console: " + why + (terminal ? "\r\n" : "\n"));
                System.err.flush();
                return why.startsWith("error") ? failed(why) : 0;
            } finally {
                if (raw != null) {
                    raw.restore();
                    Runtime.getRuntime().removeShutdownHook(restore);
                }
            }
        }
    }

    private static int failed(final String why) {
        throw Endpoints.failure("console " + why, null);
    }

    /** The stream's reader: output to stdout until the end, a detach or an error. */
    private static void pumpOutput(final BraidStream s, final OutputStream stdout, final CompletableFuture<String> ended) {
        final ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
        try {
            while (!ended.isDone()) {
                buf.clear();
                final int n = s.read(buf);
                if (n == BraidStream.EOF) {
                    s.finish();
                    ended.complete("the console command ended");
                    return;
                }
                stdout.write(buf.array(), 0, n);
                stdout.flush();
            }
        } catch (BraidException | IOException e) {
            ended.complete("error: " + Endpoints.describe(e));
        }
    }

    /** The stream's writer: stdin to the stream, until the escape key (detach) or the end of stdin. */
    private static void pumpInput(final Connection c, final BraidStream s, final InputStream in,
                                  final CompletableFuture<String> ended) {
        final byte[] b = new byte[4096];
        try {
            int n;
            while ((n = in.read(b)) >= 0) {
                int end = n;
                boolean escape = false;
                for (int i = 0; i < n; i++) {
                    if ((b[i] & 0xff) == ESCAPE) {
                        end = i;
                        escape = true;
                        break;
                    }
                }
                if (end > 0) {
                    s.write(b, 0, end);
                }
                if (escape) {
                    ended.complete("detached");
                    s.abort("the client detached");
                    return;
                }
            }
            // end of stdin: close the command's stdin, keep printing its output until it ends
            c.call(FileProtocol.CONSOLE_CLOSE_INPUT, ByteBuffer.allocate(4).putInt(0, s.serial()).array());
        } catch (IOException | BraidException e) {
            if (!ended.isDone()) {
                ended.complete("error: " + Endpoints.describe(e));
                s.abort("the client failed");
            }
        }
    }

    /**
     * Raw mode on the controlling terminal through JLine's JNI terminal (no {@code stty} process), like
     * {@code cfmakeraw(3)}: no echo, no line editing, no signals from Ctrl-C or Ctrl-Z (they go to the console
     * command), no CR/NL translation either way; reads return as soon as one byte is there. {@link #restore()}
     * puts back the settings found at {@link #enter()}; it runs once, from the console's thread or the
     * shutdown hook, whichever comes first.
     */
    static final class RawTerminal {
        private final Terminal terminal;
        private final Attributes saved;
        private final java.util.concurrent.atomic.AtomicBoolean restored = new java.util.concurrent.atomic.AtomicBoolean();

        private RawTerminal(final Terminal terminal, final Attributes saved) {
            this.terminal = terminal;
            this.saved = saved;
        }

        /** Raw mode on; null when this is no terminal JLine can drive (then the console runs cooked). */
        static RawTerminal enter() {
            final Terminal t;
            try {
                // graphemeCluster(false): otherwise JLine probes the terminal's modes at build (DECRQM queries
                // answered on stdin); where no answer comes, its probe thread stays blocked in a read of stdin
                // after its timeout and takes a keystroke from the console later, out of order ("echo" arrived
                // as "ehoc").
                t = TerminalBuilder.builder().system(true).provider("jni").dumb(false).nativeSignals(false)
                        .graphemeCluster(false).signalHandler(Terminal.SignalHandler.SIG_DFL).build();
            } catch (IOException | RuntimeException | LinkageError e) {
                return null;
            }
            final Attributes saved = t.getAttributes();
            final Attributes raw = new Attributes(saved);
            raw.setInputFlags(EnumSet.of(Attributes.InputFlag.IGNBRK, Attributes.InputFlag.BRKINT,
                    Attributes.InputFlag.PARMRK, Attributes.InputFlag.ISTRIP, Attributes.InputFlag.INLCR,
                    Attributes.InputFlag.IGNCR, Attributes.InputFlag.ICRNL, Attributes.InputFlag.IXON), false);
            raw.setOutputFlag(Attributes.OutputFlag.OPOST, false);
            raw.setLocalFlags(EnumSet.of(Attributes.LocalFlag.ECHO, Attributes.LocalFlag.ECHONL,
                    Attributes.LocalFlag.ICANON, Attributes.LocalFlag.ISIG, Attributes.LocalFlag.IEXTEN), false);
            raw.setControlFlags(EnumSet.of(Attributes.ControlFlag.CS5, Attributes.ControlFlag.CS6,
                    Attributes.ControlFlag.CS7, Attributes.ControlFlag.PARENB), false);
            raw.setControlFlag(Attributes.ControlFlag.CS8, true);
            raw.setControlChar(Attributes.ControlChar.VMIN, 1);
            raw.setControlChar(Attributes.ControlChar.VTIME, 0);
            t.setAttributes(raw);
            return new RawTerminal(t, saved);
        }

        /** The terminal's keystrokes, byte for byte. */
        InputStream input() {
            return terminal.input();
        }

        void restore() {
            if (restored.compareAndSet(false, true)) {
                try {
                    terminal.setAttributes(saved);
                    terminal.close();
                } catch (IOException | RuntimeException e) {
                    // the terminal is gone: nothing left to restore
                }
            }
        }
    }
}
