package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.HandlerMode;
import dev.braid.StreamListener;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The demo's server side, the way braid's docs recommend running a server: a {@link Braid} runtime of its
 * own answering {@link DemoRun#ECHO} with a {@link HandlerMode#NON_BLOCKING} handler and serving the
 * streams with non-blocking listeners on its I/O thread (no thread per call or stream). Beside it, when
 * asked, a raw socket server for the machine's floor ({@link DemoRaw}): one platform thread per
 * connection, whose first byte says what it is: {@link #RAW_ECHO} (64-byte ping-pong), {@link #RAW_SINK}
 * (reads and discards) or {@link #RAW_SOURCE} (writes 256 KiB chunks until the peer leaves).
 *
 * <p>Normally it runs in a process of its own ({@link DemoServerProcess}), so the client's calls and streams
 * do not share a JVM, a heap, a JIT and a garbage collector with the server's, as in a real deployment;
 * {@code ./braid demo --server in-process} runs it in the demo's own JVM for comparison.
 *
 * <p>Threads: created and closed by one thread; the raw server's threads are platform daemon threads
 * ({@code demo-raw-*}) that end when their socket closes.
 */
final class DemoServers implements AutoCloseable {
    static final int RAW_ECHO = 'E';
    static final int RAW_SINK = 'S';
    static final int RAW_SOURCE = 'D';
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    /** Null when only the raw server runs. */
    final Braid braid;
    final BraidServer server;
    final RawServer raw;

    private DemoServers(final Braid braid, final BraidServer server, final RawServer raw) {
        this.braid = braid;
        this.server = server;
        this.raw = raw;
    }

    /**
     * Starts the braid server on {@code backend} (null: none) and, if {@code withRaw}, the raw server, both
     * on loopback ports of their own.
     */
    static DemoServers start(final String backend, final boolean withRaw) throws IOException {
        return start(backend, withRaw, null);
    }

    /** As {@link #start(String, boolean)}, the braid server with TLS when {@code tls} is not null. */
    static DemoServers start(final String backend, final boolean withRaw, final dev.braid.TlsOptions tls)
            throws IOException {
        Braid b = null;
        BraidServer s = null;
        RawServer r = null;
        try {
            if (backend != null) {
                b = Braid.create(new BraidConfig().backend(backend).tls(tls));
                s = b.server()
                        .handle(DemoRun.ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                        .stream(DemoRun.UPLOAD, (call, stream) -> {
                            call.reply(EMPTY);
                            stream.setListener(new DiscardingListener());
                        }, HandlerMode.NON_BLOCKING)
                        .stream(DemoRun.DOWNLOAD, (call, stream) -> {
                            call.reply(EMPTY);
                            stream.setListener(new WritingListener());
                        }, HandlerMode.NON_BLOCKING)
                        .bind(0);
            }
            if (withRaw) {
                r = new RawServer();
            }
            return new DemoServers(b, s, r);
        } catch (IOException | RuntimeException e) {
            if (s != null) {
                s.close();
            }
            if (b != null) {
                b.close();
            }
            throw e;
        }
    }

    String backendName() {
        return braid == null ? null : braid.backendName();
    }

    /** Closes everything; returns the pooled buffers the braid server still had out afterwards. */
    long closeAndCount() throws InterruptedException {
        if (raw != null) {
            raw.close();
        }
        if (braid == null) {
            return 0;
        }
        server.close();
        braid.close();
        final long deadline = System.nanoTime() + 5_000_000_000L;
        while (braid.bufferPool().outstanding() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10); // buffers released on I/O threads after the close come home
        }
        return braid.bufferPool().outstanding();
    }

    @Override
    public void close() {
        try {
            closeAndCount();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Server end of an upload: reads and discards whatever arrives, on the server's I/O thread. */
    private static final class DiscardingListener implements StreamListener {
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(DemoRun.CHUNK);

        @Override
        public void onReadable(final BraidStream stream) {
            try {
                while (stream.tryRead(buffer.clear()) > 0) {
                    // discard
                }
            } catch (BraidException e) {
                // the client aborted it at the end of the phase
            }
        }
    }

    /** Server end of a download: writes {@link DemoRun#CHUNK}-byte chunks as long as the stream takes them. */
    private static final class WritingListener implements StreamListener {
        private final ByteBuffer chunk = ByteBuffer.allocateDirect(DemoRun.CHUNK);

        @Override
        public void onWritable(final BraidStream stream) {
            try {
                while (true) {
                    if (!chunk.hasRemaining()) {
                        chunk.clear();
                    }
                    if (stream.tryWrite(chunk) == BraidStream.WOULD_BLOCK) {
                        return; // onWritable again when there is room
                    }
                }
            } catch (BraidException e) {
                // the client aborted it at the end of the phase
            }
        }
    }

    /** Plain TCP: a thread per connection, nothing multiplexed (see the class comment). */
    static final class RawServer implements AutoCloseable {
        private final ServerSocket listener;
        private final Set<Socket> open = ConcurrentHashMap.newKeySet();
        private final Thread acceptor;

        RawServer() throws IOException {
            listener = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
            acceptor = Thread.ofPlatform().name("demo-raw-accept").daemon().start(this::acceptLoop);
        }

        InetSocketAddress address() {
            return new InetSocketAddress(listener.getInetAddress(), listener.getLocalPort());
        }

        private void acceptLoop() {
            while (!listener.isClosed()) {
                try {
                    final Socket s = listener.accept();
                    s.setTcpNoDelay(true);
                    open.add(s);
                    Thread.ofPlatform().name("demo-raw-" + s.getPort()).daemon().start(() -> serve(s));
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private void serve(final Socket s) {
            try (s) {
                final InputStream in = s.getInputStream();
                final OutputStream out = s.getOutputStream();
                final int role = in.read();
                if (role == RAW_ECHO) {
                    final byte[] b = new byte[64 * 1024];
                    while (true) {
                        final int n = in.read(b);
                        if (n < 0) {
                            return;
                        }
                        out.write(b, 0, n); // echo what came, as it came: the client counts whole replies
                    }
                } else if (role == RAW_SINK) {
                    final byte[] b = new byte[DemoRun.CHUNK];
                    while (in.read(b) >= 0) {
                        // discard
                    }
                } else if (role == RAW_SOURCE) {
                    final byte[] b = new byte[DemoRun.CHUNK];
                    while (true) {
                        out.write(b);
                    }
                }
            } catch (IOException e) {
                // the client left
            } finally {
                open.remove(s);
            }
        }

        @Override
        public void close() {
            try {
                listener.close();
            } catch (IOException e) {
                // closing anyway
            }
            for (Socket s : open) {
                try {
                    s.close();
                } catch (IOException e) {
                    // closing anyway
                }
            }
            try {
                acceptor.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
