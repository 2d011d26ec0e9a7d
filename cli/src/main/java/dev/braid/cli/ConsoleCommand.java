package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.StreamOptions;
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
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/**
 * {@code braid console HOST:PORT}: attach this terminal to the server's console command. Two threads: the
 * stream's reader copies output to stdout; the stream's writer (a daemon, since a blocked read of stdin cannot
 * be interrupted) copies stdin to the stream and watches for the escape key.
 */
@Command(name = "console", mixinStandardHelpOptions = true,
        description = {"Attach to the console of a 'braid serve --console CMD' server, like virsh console: your "
                + "keystrokes go to CMD's stdin, its output comes back. On a terminal, raw mode is set (and "
                + "restored on exit) and Ctrl-] (the escape key, as in telnet) detaches.",
                "When stdin is not a terminal it is sent as is; its end closes CMD's stdin, and the command ends "
                + "when CMD does."},
        footer = {"", "Examples:", "  braid console 127.0.0.1:7000",
                "  echo 'uname -a' | braid console 127.0.0.1:7000", "",
                "Exit codes: 0 detached or the console command ended, 1 the connection or the stream failed, "
                + "2 bad usage."})
final class ConsoleCommand implements Callable<Integer> {
    /** Ctrl-]: telnet's escape character. */
    static final int ESCAPE = 0x1d;

    @Parameters(index = "0", paramLabel = "HOST:PORT", description = "The server.")
    String endpoint;

    @Option(names = "--backend", description = "I/O backend (default: the braid.backend property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        final CommandLine cmd = spec.commandLine();
        final var address = Endpoints.parse(cmd, endpoint, -1);
        final boolean terminal = Progress.isTerminal() && System.console() != null;
        final PrintStream stdout = System.out;
        try (Braid braid = TransferOptions.braid(backend);
             Connection c = TransferOptions.connect(braid, address, endpoint)) {
            final BraidStream s;
            try {
                s = c.openStream(FileProtocol.CONSOLE, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
            } catch (BraidException e) {
                throw Endpoints.failure("cannot open the console: " + Endpoints.describe(e), e);
            }
            final CompletableFuture<String> ended = new CompletableFuture<>();
            final String saved = terminal ? Stty.raw() : null;
            final Thread restore = new Thread(() -> Stty.restore(saved), "braid-stty-restore");
            if (saved != null) {
                Runtime.getRuntime().addShutdownHook(restore);
            }
            try {
                System.err.print("braid console: connected to " + endpoint + "; escape character is '^]' (Ctrl-])"
                        + (terminal ? "\r\n" : "\n"));
                System.err.flush();
                Thread.ofPlatform().daemon().name("braid-console-in").start(() -> pumpInput(c, s, ended));
                pumpOutput(s, stdout, ended);
                final String why = ended.join();
                System.err.print((terminal ? "\r\n" : "") + "braid console: " + why + (terminal ? "\r\n" : "\n"));
                System.err.flush();
                return why.startsWith("error") ? failed(why) : 0;
            } finally {
                if (saved != null) {
                    Stty.restore(saved);
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
    private static void pumpInput(final Connection c, final BraidStream s, final CompletableFuture<String> ended) {
        final InputStream in = System.in;
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

    /** Raw mode through stty on the controlling terminal. */
    static final class Stty {
        private Stty() {
        }

        /** Sets raw mode without echo; returns the previous settings (stty -g), or null if stty failed. */
        static String raw() {
            final String saved = run("stty -g < /dev/tty");
            if (saved == null || run("stty raw -echo < /dev/tty") == null) {
                return null;
            }
            return saved.trim();
        }

        static void restore(final String saved) {
            if (saved != null) {
                run("stty " + saved + " < /dev/tty");
            }
        }

        private static String run(final String shell) {
            try {
                final Process p = new ProcessBuilder("/bin/sh", "-c", shell)
                        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
                final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                return p.waitFor() == 0 ? out : null;
            } catch (IOException e) {
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
    }
}
