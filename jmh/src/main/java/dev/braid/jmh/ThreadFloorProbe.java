package dev.braid.jmh;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The floor under the loom backend's latency, without braid: a 64-byte echo over loopback between two JVMs
 * with blocking {@link SocketChannel}s, each end on a platform thread or on a virtual thread, so the four
 * pairings show what the JDK's virtual-thread socket I/O costs a round trip by itself (a read that must
 * wait parks the virtual thread; the JDK's poller wakes it on a carrier). Read braid's
 * {@code TwoProcessCallBenchmark} loom figures against the virtual/virtual row, and nio's against the
 * platform/platform row.
 *
 * <p>Usage: {@code java -cp jmh/target/benchmarks.jar dev.braid.jmh.ThreadFloorProbe [seconds]} (default 5 per
 * pairing). Not a JMH benchmark: the client end must itself run on a virtual thread for two of the rows.
 */
public final class ThreadFloorProbe {
    private static final int PAYLOAD = 64;
    private static final String READY = "floor-server ";

    private ThreadFloorProbe() {
    }

    public static void main(final String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("serve")) {
            serve(args[1].equals("virtual"));
            return;
        }
        final long seconds = args.length > 0 ? Long.parseLong(args[0]) : 5;
        System.out.printf("ThreadFloorProbe: %d-byte echo between two JVMs over loopback, blocking SocketChannels, "
                + "%d s per pairing%n%n%-10s %-10s %12s %10s %10s%n", PAYLOAD, seconds, "server", "client",
                "round trips", "p50 µs", "p99 µs");
        for (String server : List.of("platform", "virtual")) {
            for (String client : List.of("platform", "virtual")) {
                final long[] l = pairing(server, client.equals("virtual"), seconds);
                System.out.printf("%-10s %-10s %12d %10.1f %10.1f%n", server, client, l.length, l[l.length / 2] / 1e3,
                        l[(int) (l.length * 0.99)] / 1e3);
            }
        }
    }

    private static long[] pairing(final String server, final boolean virtualClient, final long seconds)
            throws IOException, InterruptedException {
        final List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"),
                "-cp", System.getProperty("java.class.path"), ThreadFloorProbe.class.getName(), "serve", server));
        final Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            final BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line;
            int port = -1;
            while ((line = out.readLine()) != null) {
                if (line.startsWith(READY)) {
                    port = Integer.parseInt(line.substring(READY.length()).trim());
                    break;
                }
            }
            if (port < 0) {
                throw new IOException("the echo server process exited before it was ready");
            }
            final int serverPort = port;
            final long[][] result = new long[1][];
            final Runnable client = () -> result[0] = measure(serverPort, seconds);
            final Thread t = virtualClient ? Thread.ofVirtual().start(client) : Thread.ofPlatform().start(client);
            t.join();
            return result[0];
        } finally {
            p.getOutputStream().close();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private static long[] measure(final int port, final long seconds) {
        try (SocketChannel ch = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            final ByteBuffer b = ByteBuffer.allocateDirect(PAYLOAD);
            final long warmEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while (System.nanoTime() < warmEnd) {
                roundTrip(ch, b);
            }
            long[] lat = new long[1 << 20];
            int n = 0;
            final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() < end) {
                final long t0 = System.nanoTime();
                roundTrip(ch, b);
                if (n == lat.length) {
                    lat = Arrays.copyOf(lat, 2 * n);
                }
                lat[n++] = System.nanoTime() - t0;
            }
            final long[] l = Arrays.copyOf(lat, n);
            Arrays.sort(l);
            return l;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void roundTrip(final SocketChannel ch, final ByteBuffer b) throws IOException {
        b.clear();
        while (b.hasRemaining()) {
            ch.write(b);
        }
        b.clear();
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new IOException("the echo server closed");
            }
        }
    }

    /** The child: accepts one connection and echoes on a platform or a virtual thread until stdin ends. */
    private static void serve(final boolean virtual) throws Exception {
        try (ServerSocketChannel ss = ServerSocketChannel.open()) {
            ss.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            System.out.println(READY + ((InetSocketAddress) ss.getLocalAddress()).getPort());
            System.out.flush();
            final Runnable echo = () -> {
                try (SocketChannel ch = ss.accept()) {
                    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    final ByteBuffer b = ByteBuffer.allocateDirect(PAYLOAD);
                    while (true) {
                        b.clear();
                        while (b.hasRemaining()) {
                            if (ch.read(b) < 0) {
                                return;
                            }
                        }
                        b.flip();
                        while (b.hasRemaining()) {
                            ch.write(b);
                        }
                    }
                } catch (IOException e) {
                    // the client left
                }
            };
            final Thread t = virtual ? Thread.ofVirtual().start(echo) : Thread.ofPlatform().daemon().start(echo);
            while (System.in.read() >= 0) {
                // until the parent closes our standard input
            }
            t.interrupt();
        }
    }
}
