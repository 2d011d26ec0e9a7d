package dev.braid.jmh;

import dev.braid.BraidStream;
import dev.braid.CallOptions;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Bytes allocated per operation by each thread, on braid's call and stream paths, measured with
 * {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} around a steady-state loop. Unlike JMH's
 * {@code -prof gc}, which divides everything the JVM allocated (harness and profiler included) by the
 * operations, this names the thread that allocates, so braid's own threads are seen alone.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp jmh/target/benchmarks.jar dev.braid.jmh.AllocationProbe [backend] [ops] [observer|tls]</pre>
 *
 * {@code observer}: {@code none} (default), {@code counting} (a {@code BraidObserver} that counts calls: what
 * the observer hooks cost) or {@code micrometer} (the {@code braid-micrometer} binding), on both runtimes.
 * With {@code tls} instead, both sides run TLS 1.3 (no observer), and the probe first measures the JDK's
 * {@code SSLEngine} alone (two engines in memory, the same records a call round trip makes: a call and a
 * reply, each wrapped and unwrapped) so braid's own share is the difference.
 *
 * Same fixture as the benchmarks: a server and a client {@code Braid} on loopback, a non-blocking echo
 * handler, non-blocking stream handlers. Each path first runs {@code ops} operations to warm up (the JIT
 * removes allocations only once it has compiled a path), then {@code ops} measured ones.
 */
public final class AllocationProbe {
    private AllocationProbe() {
    }

    public static void main(final String[] args) throws Exception {
        final String backend = args.length > 0 ? args[0] : "nio";
        final int ops = args.length > 1 ? Integer.parseInt(args[1]) : 100_000;
        final boolean tls = args.length > 2 && args[2].equals("tls");
        final Observers observer = args.length > 2 && !tls ? Observers.valueOf(args[2].toUpperCase(Locale.ROOT))
                : Observers.NONE;
        if (tls) {
            final SslEngineFloor floor = new SslEngineFloor();
            measure("the JDK's SSLEngine alone (a 92-byte call and its reply, each wrapped and unwrapped: the "
                    + "records of one TLS call round trip)", ops, floor::roundTrip);
            measure("the JDK's SSLEngine alone (256 KiB one way as full records, wrapped and unwrapped: the "
                    + "records of one stream operation)", ops / 10, floor::chunk);
        }
        try (BraidFixture f = new BraidFixture(backend, observer, tls)) {
            System.out.printf(Locale.ROOT, "AllocationProbe: backend %s%s, observer %s, %,d warm-up + %,d measured"
                    + " operations per path%n", f.connection.backendName(), tls ? " over TLS ("
                    + f.connection.tls().orElseThrow() + ")" : "", observer.name().toLowerCase(Locale.ROOT), ops, ops);
            final ByteBuffer args0 = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
            final ByteBuffer reply = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
            measure("call round trip (blocking call into a buffer)", ops,
                    () -> f.connection.call(BraidFixture.ECHO, args0.clear(), reply.clear(), CallOptions.DEFAULT));
            final Pipeline window = new Pipeline(f.connection, 64); // the JMH benchmark's window, no allocation of its own
            measure("pipelined calls (64 in flight, ReplyHandler)", ops, window::next);
            window.drain();
            final Sample request = new Sample();
            final Sample replyInto = new Sample();
            measure("typed call round trip (blocking, XDR struct decoded into the caller's object)", ops, () -> {
                request.value++;
                f.connection.call(BraidFixture.TYPED, request, replyInto, CallOptions.DEFAULT);
            });
            try (dev.braid.ReconnectingConnection rc = f.clientBraid.connectReconnecting(f.server.address(),
                    dev.braid.ReconnectPolicy.DEFAULT)) { // the same calls through a reconnecting connection, steady state
                measure("reconnecting connection: call round trip (blocking call into a buffer)", ops,
                        () -> rc.call(BraidFixture.ECHO, args0.clear(), reply.clear(), CallOptions.DEFAULT));
                measure("reconnecting connection: typed call round trip (blocking, decoded into the caller's object)",
                        ops, () -> {
                            request.value++;
                            rc.call(BraidFixture.TYPED, request, replyInto, CallOptions.DEFAULT);
                        });
            }
            final TypedPipeline typed = new TypedPipeline(f.connection, 64);
            measure("typed pipelined calls (64 in flight, TypedReplyHandler with an attachment)", ops, typed::next);
            typed.drain();
            final ByteBuffer chunk = ByteBuffer.allocateDirect(BraidFixture.CHUNK);
            final BraidStream up = f.open(BraidFixture.SINK);
            measure("stream upload (256 KiB per operation)", ops / 10, () -> up.write(chunk.clear()));
            up.abort("probe over");
            final BraidStream down = f.open(BraidFixture.SOURCE);
            measure("stream download (256 KiB per operation)", ops / 10,
                    () -> BraidFixture.readFully(down, chunk.clear()));
            down.abort("probe over");
        }
    }

    /** Two SSLEngines in memory, a handshake done; {@link #roundTrip} seals and opens one call and its reply. */
    static final class SslEngineFloor {
        private final javax.net.ssl.SSLEngine client;
        private final javax.net.ssl.SSLEngine server;
        private final ByteBuffer frame = ByteBuffer.allocateDirect(92);
        private final ByteBuffer chunk = ByteBuffer.allocateDirect(256 * 1024);
        private final ByteBuffer net = ByteBuffer.allocateDirect(32 * 1024);
        private final ByteBuffer app = ByteBuffer.allocateDirect(32 * 1024);

        SslEngineFloor() throws Exception {
            final java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("braid-probe-tls");
            final dev.braid.tooling.ThrowawayPki pki = dev.braid.tooling.ThrowawayPki.create(dir, "probe");
            final dev.braid.tooling.ThrowawayPki.Identity id = pki.issue("server", java.util.List.of("localhost"),
                    java.util.List.of());
            server = dev.braid.TlsOptions.fromPem(id.certificate(), id.key(), null, dev.braid.TlsOptions.JDK).context().createSSLEngine();
            server.setUseClientMode(false);
            client = dev.braid.TlsOptions.fromPem(null, null, pki.caCertificate(), dev.braid.TlsOptions.JDK).context()
                    .createSSLEngine("localhost", 1);
            client.setUseClientMode(true);
            handshake();
        }

        private void handshake() throws Exception {
            final ByteBuffer c2s = ByteBuffer.allocate(64 * 1024);
            final ByteBuffer s2c = ByteBuffer.allocate(64 * 1024);
            final ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
            client.beginHandshake();
            server.beginHandshake();
            for (int i = 0; i < 100 && !(done(client) && done(server)); i++) {
                step(client, s2c, c2s, sink);
                step(server, c2s, s2c, sink);
            }
            if (!(done(client) && done(server))) {
                throw new IllegalStateException("in-memory TLS handshake did not finish");
            }
            drain(client, s2c, sink); // the server's NewSessionTicket: the client's read sequence must catch up
            drain(server, c2s, sink);
        }

        private static void drain(final javax.net.ssl.SSLEngine e, final ByteBuffer in, final ByteBuffer sink)
                throws Exception {
            in.flip();
            while (in.hasRemaining()) {
                final javax.net.ssl.SSLEngineResult r = e.unwrap(in, sink.clear());
                if (r.bytesConsumed() == 0) {
                    break;
                }
            }
            in.compact();
        }

        private static boolean done(final javax.net.ssl.SSLEngine e) {
            return e.getHandshakeStatus() == javax.net.ssl.SSLEngineResult.HandshakeStatus.NOT_HANDSHAKING;
        }

        private static void step(final javax.net.ssl.SSLEngine e, final ByteBuffer in, final ByteBuffer out,
                                 final ByteBuffer sink) throws Exception {
            while (true) {
                switch (e.getHandshakeStatus()) {
                    case NEED_TASK -> {
                        Runnable t;
                        while ((t = e.getDelegatedTask()) != null) {
                            t.run();
                        }
                    }
                    case NEED_WRAP -> e.wrap(ByteBuffer.allocate(0), out);
                    case NEED_UNWRAP -> {
                        in.flip();
                        final javax.net.ssl.SSLEngineResult r = e.unwrap(in, sink.clear());
                        in.compact();
                        if (r.getStatus() == javax.net.ssl.SSLEngineResult.Status.BUFFER_UNDERFLOW
                                || (r.bytesConsumed() == 0 && r.bytesProduced() == 0)) {
                            return;
                        }
                    }
                    default -> {
                        return;
                    }
                }
            }
        }

        void roundTrip() {
            try {
                once(client, server);
                once(server, client);
            } catch (javax.net.ssl.SSLException e) {
                throw new IllegalStateException(e);
            }
        }

        /** 256 KiB from the client to the server, one full record at a time. */
        void chunk() {
            try {
                chunk.clear();
                while (chunk.hasRemaining()) {
                    client.wrap(chunk, net.clear());
                    net.flip();
                    server.unwrap(net, app.clear());
                }
            } catch (javax.net.ssl.SSLException e) {
                throw new IllegalStateException(e);
            }
        }

        private void once(final javax.net.ssl.SSLEngine from, final javax.net.ssl.SSLEngine to)
                throws javax.net.ssl.SSLException {
            from.wrap(frame.clear(), net.clear());
            net.flip();
            to.unwrap(net, app.clear());
        }
    }

    private static void measure(final String what, final int ops, final Runnable op) {
        for (int i = 0; i < ops; i++) {
            op.run();
        }
        final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        final Map<Long, Long> before = new HashMap<>();
        final Map<Long, String> names = new HashMap<>();
        for (ThreadInfo t : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (t != null) {
                before.put(t.getThreadId(), threads.getThreadAllocatedBytes(t.getThreadId()));
                names.put(t.getThreadId(), t.getThreadName());
            }
        }
        for (int i = 0; i < ops; i++) {
            op.run();
        }
        final Map<String, Long> after = new java.util.TreeMap<>();
        long braid = 0;
        for (Map.Entry<Long, Long> e : before.entrySet()) {
            final long now = threads.getThreadAllocatedBytes(e.getKey());
            final long d = now < 0 ? 0 : now - e.getValue();
            final String name = names.get(e.getKey());
            if (name.startsWith("braid-") || name.equals("main")) {
                after.put(name, d);
                braid += d;
            }
        }
        System.out.printf(Locale.ROOT, "%n%s: %.3f bytes per operation (braid's threads and the caller)%n", what,
                braid / (double) ops);
        after.forEach((name, d) -> System.out.printf(Locale.ROOT, "  %-28s %,12d bytes  %8.3f B/op%n", name, d,
                d / (double) ops));
    }
}
