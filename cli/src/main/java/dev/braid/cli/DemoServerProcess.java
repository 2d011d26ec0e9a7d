package dev.braid.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The demo's server in a JVM of its own: {@link #main} is the child's side (it runs {@link DemoServers}),
 * {@link #start} the parent's. The child uses the parent's Java and class path and inherits its
 * {@code braid.*} system properties, prints one line with its ports, and stops when its standard input ends
 * (the parent closed it or died), printing the pooled buffers its braid server still had out; so it never
 * outlives the demo.
 *
 * <p>Threads: a handle is used by the one thread that started it.
 */
final class DemoServerProcess implements AutoCloseable {
    private static final String READY = "demo-server ready ";
    private static final String OUTSTANDING = "demo-server outstanding ";
    /** Argument for a child that runs only the raw server. */
    static final String RAW_ONLY = "raw-only";

    private final Process process;
    private final BufferedReader out;
    final InetSocketAddress braid;
    final InetSocketAddress raw;
    final String backend;

    private DemoServerProcess(final Process process, final BufferedReader out, final InetSocketAddress braid,
                              final InetSocketAddress raw, final String backend) {
        this.process = process;
        this.out = out;
        this.braid = braid;
        this.raw = raw;
        this.backend = backend;
    }

    /** The child: {@code backend} (or {@link #RAW_ONLY}) and whether to run the raw server too ("raw"). */
    public static void main(final String[] args) throws Exception {
        final boolean rawOnly = RAW_ONLY.equals(args[0]);
        boolean withRaw = rawOnly;
        dev.braid.TlsOptions tls = null;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("raw")) {
                withRaw = true;
            } else if (args[i].equals("tls")) {
                tls = DemoTls.serverOptions(java.nio.file.Path.of(args[i + 1]), java.nio.file.Path.of(args[i + 2]),
                        TlsEngine.parse(args[i + 3]));
                i += 3;
            }
        }
        final DemoServers s = DemoServers.start(rawOnly ? null : args[0], withRaw, tls);
        System.out.println(READY + (s.server == null ? 0 : s.server.address().getPort()) + " "
                + (s.raw == null ? 0 : s.raw.address().getPort()) + " " + (rawOnly ? "-" : s.backendName()));
        System.out.flush();
        while (System.in.read() >= 0) {
            // until the parent closes our standard input
        }
        System.out.println(OUTSTANDING + s.closeAndCount());
        System.out.flush();
        System.exit(0);
    }

    /** Starts a child running a braid server on {@code backend} (or {@link #RAW_ONLY}), and the raw server if asked. */
    static DemoServerProcess start(final String backend, final boolean withRaw) throws IOException {
        return start(backend, withRaw, null);
    }

    /** As {@link #start(String, boolean)}; with {@code tls}, the braid server presents its certificate. */
    static DemoServerProcess start(final String backend, final boolean withRaw, final DemoTls tls) throws IOException {
        final List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"));
        cmd.add("--enable-native-access=ALL-UNNAMED"); // Netty epoll loads its native library
        for (Map.Entry<Object, Object> e : System.getProperties().entrySet()) {
            if (String.valueOf(e.getKey()).startsWith("braid.")) {
                cmd.add("-D" + e.getKey() + "=" + e.getValue()); // the same braid settings on both sides
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(DemoServerProcess.class.getName());
        cmd.add(backend);
        if (withRaw) {
            cmd.add("raw");
        }
        if (tls != null) {
            cmd.add("tls");
            cmd.add(tls.server.certificate().toString());
            cmd.add(tls.server.key().toString());
            cmd.add(tls.engine.option());
        }
        final Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        final BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null) {
            if (line.startsWith(READY)) {
                final String[] f = line.substring(READY.length()).trim().split(" ");
                final InetAddress lo = InetAddress.getLoopbackAddress();
                return new DemoServerProcess(p, out, new InetSocketAddress(lo, Integer.parseInt(f[0])),
                        new InetSocketAddress(lo, Integer.parseInt(f[1])), f[2]);
            }
        }
        p.destroyForcibly();
        try {
            throw new IOException("the demo's server process exited with " + p.waitFor() + " before it was ready");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the demo's server process started", e);
        }
    }

    /**
     * Stops the child and returns the pooled buffers its braid server still had out after closing (-1 if
     * it did not say within 30 s).
     */
    long closeAndCount() throws IOException, InterruptedException {
        process.getOutputStream().close();
        long outstanding = -1;
        String line;
        while ((line = out.readLine()) != null) {
            if (line.startsWith(OUTSTANDING)) {
                outstanding = Long.parseLong(line.substring(OUTSTANDING.length()).trim());
            }
        }
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
        return outstanding;
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            try {
                process.getOutputStream().close();
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (IOException e) {
                process.destroyForcibly();
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
