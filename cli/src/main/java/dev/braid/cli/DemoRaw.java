package dev.braid.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * The machine's own floor, measured the way the JMH suite's {@code RawFairnessBenchmark} does: the demo's
 * calls as a plain-socket ping-pong ({@code payload} bytes out, the same bytes back, blocking
 * {@link Socket}s, one TCP connection per calling thread), alone and then beside N plain transfers (half
 * uploads, half downloads of {@link DemoRun#CHUNK}-byte writes and reads), each on a TCP connection of its
 * own, against {@link DemoServers.RawServer} in the server's process. Nothing is multiplexed, so nothing
 * queues ahead of a ping in any buffer: what its p99 loses beside the transfers is CPU and scheduler
 * contention only, which no transport on this machine can avoid. Read braid's p99 ratio against it.
 *
 * <p>Threads: {@link #run} from one thread; callers are {@code demo-caller-N} (see {@link DemoRun#measure}),
 * transfers {@code demo-raw-up-N} / {@code demo-raw-down-N} platform threads, joined before it returns.
 */
final class DemoRaw {
    static final String NAME = "raw";

    private final InetSocketAddress server;
    private final DemoRun.Settings settings;
    private final DemoProgress progress;

    DemoRaw(final InetSocketAddress server, final DemoRun.Settings settings, final DemoProgress progress) {
        this.server = server;
        this.settings = settings;
        this.progress = progress;
    }

    DemoRun.Result run() throws InterruptedException, IOException {
        progress.note("[" + NAME + "] plain sockets to " + server + ": one connection per calling thread, one per "
                + "transfer (the machine's floor)");
        if (!settings.warmup().isZero()) {
            calls("[" + NAME + "] warm-up", settings.warmup(), null);
        }
        final DemoRun.Phase alone = calls("[" + NAME + "] calls alone", settings.phase(), null);
        final Transfers t = new Transfers();
        final DemoRun.Phase beside;
        try {
            for (int i = 0; i < settings.streams(); i++) {
                t.start(i % 2 == 0, i);
            }
            Thread.sleep(Math.max(DemoRun.STREAM_RAMP.toMillis(), settings.warmup().toMillis()));
            t.check();
            beside = calls("[" + NAME + "] " + DemoRun.phase2Name(settings.streams()), settings.phase(), t);
        } finally {
            t.stop();
        }
        t.check();
        return new DemoRun.Result(NAME, alone, beside, 0);
    }

    private DemoRun.Phase calls(final String label, final Duration d, final Transfers t) throws InterruptedException {
        final LongAdder socketBytes = new LongAdder();
        final int payload = settings.payload();
        return DemoRun.measure(progress, label, d, settings.concurrency(), i -> new Ping(server, payload, socketBytes),
                () -> socketBytes.sum() + (t == null ? 0 : t.up.sum() + t.down.sum()),
                () -> t == null ? 0 : t.up.sum(), () -> t == null ? 0 : t.down.sum());
    }

    /** One calling thread's connection: write the payload, read the same number of bytes back, compare. */
    private static final class Ping implements DemoRun.RoundTrip {
        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;
        private final byte[] request;
        private final byte[] reply;
        private final LongAdder bytes;

        Ping(final InetSocketAddress server, final int payload, final LongAdder bytes) throws IOException {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(server, 10_000);
            in = socket.getInputStream();
            out = socket.getOutputStream();
            out.write(DemoServers.RAW_ECHO);
            request = new byte[payload];
            DemoRun.payload(payload).get(request);
            reply = new byte[payload];
            this.bytes = bytes;
        }

        @Override
        public boolean call() throws IOException {
            out.write(request);
            int n = 0;
            while (n < reply.length) {
                final int r = in.read(reply, n, reply.length - n);
                if (r < 0) {
                    throw new IOException("the raw echo server closed the connection");
                }
                n += r;
            }
            bytes.add(2L * reply.length);
            return java.util.Arrays.equals(request, reply);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** The raw transfers of phase 2: a platform thread and a connection each, until {@link #stop}. */
    private final class Transfers {
        final LongAdder up = new LongAdder();
        final LongAdder down = new LongAdder();
        private final List<Socket> sockets = new ArrayList<>();
        private final List<Thread> threads = new ArrayList<>();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile boolean stopping;

        void start(final boolean upload, final int i) throws IOException {
            final Socket s = new Socket();
            s.setTcpNoDelay(true);
            s.connect(server, 10_000);
            s.getOutputStream().write(upload ? DemoServers.RAW_SINK : DemoServers.RAW_SOURCE);
            sockets.add(s);
            threads.add(Thread.ofPlatform().name((upload ? "demo-raw-up-" : "demo-raw-down-") + i).daemon()
                    .start(() -> pump(s, upload)));
        }

        private void pump(final Socket s, final boolean upload) {
            final byte[] chunk = new byte[DemoRun.CHUNK];
            try {
                if (upload) {
                    final OutputStream out = s.getOutputStream();
                    while (!stopping) {
                        out.write(chunk);
                        up.add(chunk.length);
                    }
                } else {
                    final InputStream in = s.getInputStream();
                    int n;
                    while (!stopping && (n = in.read(chunk)) >= 0) {
                        down.add(n);
                    }
                }
            } catch (IOException e) {
                if (!stopping) {
                    failure.compareAndSet(null, e);
                }
            }
        }

        void check() {
            final Throwable e = failure.get();
            if (e != null) {
                throw new IllegalStateException("raw transfer failed: " + e, e);
            }
        }

        void stop() throws InterruptedException {
            stopping = true;
            for (Socket s : sockets) {
                try {
                    s.close();
                } catch (IOException e) {
                    // closing anyway
                }
            }
            for (Thread t : threads) {
                t.join(10_000);
            }
        }
    }
}
