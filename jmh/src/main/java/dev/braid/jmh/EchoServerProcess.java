package dev.braid.jmh;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.HandlerMode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A braid server in a JVM of its own, for benchmarks whose client and server must not share a process (no
 * shared CPU caches of the same heap, no JIT or GC of one slowing the other's threads, as between two real
 * processes): {@link BraidFixture#ECHO} answered by a {@link HandlerMode#NON_BLOCKING} handler, the way
 * {@link BraidFixture}'s in-process server does.
 *
 * <p>Usage: {@code java -cp benchmarks.jar dev.braid.jmh.EchoServerProcess BACKEND}. Prints one line,
 * {@code port N}, on standard output once it listens on loopback; stops when its standard input ends (the
 * parent closed it or died), so it never outlives the benchmark. {@link #start} is the parent's side.
 */
public final class EchoServerProcess {
    private static final String PORT_LINE = "port ";

    private EchoServerProcess() {
    }

    public static void main(final String[] args) throws IOException {
        final String backend = args.length > 0 ? args[0] : "auto";
        final dev.braid.TlsOptions tls = args.length <= 2 ? null : BraidFixture.OPENSSL
                ? dev.braid.tls.openssl.OpenSslTls.fromPem(java.nio.file.Path.of(args[1]), java.nio.file.Path.of(args[2]), null)
                : dev.braid.TlsOptions.fromPem(java.nio.file.Path.of(args[1]), java.nio.file.Path.of(args[2]), null,
                        dev.braid.TlsOptions.JDK);
        try (Braid braid = Braid.create(new BraidConfig().backend(backend).tls(tls));
             BraidServer server = braid.server()
                     .handle(BraidFixture.ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                     .bind(0)) {
            System.out.println(PORT_LINE + server.address().getPort());
            System.out.flush();
            while (System.in.read() >= 0) {
                // wait for the parent to close our standard input
            }
        }
    }

    /** The parent's handle on a running server process. */
    static final class Handle implements AutoCloseable {
        final Process process;
        final int port;

        private Handle(final Process process, final int port) {
            this.process = process;
            this.port = port;
        }

        /** Ends the process: closes its standard input, waits up to 30 s for it to exit, then kills it. */
        @Override
        public void close() throws IOException {
            process.getOutputStream().close(); // its standard input ends: it closes braid and exits
            boolean interrupted = false;
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                interrupted = true;
                process.destroyForcibly();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Starts a server process on {@code backend} with this JVM's class path and Java, and waits for its port.
     * {@code jvmArgs} go before the main class (for example {@code -Xmx256m}).
     */
    static Handle start(final String backend, final List<String> jvmArgs) throws IOException, InterruptedException {
        return start(backend, jvmArgs, List.of());
    }

    /** As {@link #start(String, List)}; {@code tlsFiles} (certificate chain, key) make the server TLS. */
    static Handle start(final String backend, final List<String> jvmArgs, final List<String> tlsFiles)
            throws IOException, InterruptedException {
        final List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"));
        cmd.add("--enable-native-access=ALL-UNNAMED"); // Netty epoll loads its native library
        cmd.addAll(jvmArgs);
        if (BraidFixture.OPENSSL) { // the server's TLS engines are the client's: BoringSSL's
            cmd.add("-Dbraid.bench.tls=openssl");
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(EchoServerProcess.class.getName());
        cmd.add(backend);
        cmd.addAll(tlsFiles);
        final Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        final BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null) {
            if (line.startsWith(PORT_LINE)) {
                return new Handle(p, Integer.parseInt(line.substring(PORT_LINE.length()).trim()));
            }
        }
        p.destroyForcibly();
        throw new IOException("the server process (" + String.join(" ", cmd) + ") exited with " + p.waitFor()
                + " before it printed its port");
    }
}
