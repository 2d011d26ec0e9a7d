package dev.braid.fuzz;

import dev.braid.spi.Backend;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Supplier;

/**
 * A backend without sockets, for driving braid's engine byte by byte from a test (the fuzzers): a server's
 * {@link #accept} and a client's connect hand out {@link Pipe}s, whose {@link Pipe#feed} plays the
 * socket's reads and {@link Pipe#drain} its writes. Select it by class name:
 * {@code new BraidConfig().backend(InMemoryBackend.class.getName())}; {@link #last()} is the instance the
 * most recent {@code Braid} started.
 *
 * <p><b>Threads.</b> One test thread drives a pipe: it is both the reader and the writer context of the
 * {@link ConnectionHandler} contract, so every engine call happens on it, in order. Only {@link Transport}'s
 * methods may come from other threads (braid's timer); they just record what was asked
 * ({@link Pipe#execute} queues the task for the driving thread, {@link Pipe#close} records the reason).
 */
public final class InMemoryBackend implements Backend, BackendInstance {
    private static volatile InMemoryBackend last;

    private volatile Supplier<ConnectionHandler> listener;
    private volatile java.net.SocketAddress listenAddress;
    private final Queue<Pipe> connected = new ConcurrentLinkedQueue<>();

    /** The instance the most recent {@code Braid} with this backend started. */
    public static InMemoryBackend last() {
        return last;
    }

    @Override
    public String name() {
        return "in-memory";
    }

    @Override
    public int autoPriority() {
        return -1000; // never chosen by auto
    }

    @Override
    public boolean isAvailable() {
        return true;
    }

    @Override
    public Throwable unavailabilityCause() {
        return null;
    }

    @Override
    public BackendInstance start(final BackendSettings settings) {
        final InMemoryBackend b = new InMemoryBackend();
        last = b;
        return b;
    }

    @Override
    public CompletableFuture<Void> connect(final java.net.SocketAddress remote, final ConnectionHandler handler) {
        final Pipe p = new Pipe(handler, remote);
        p.open();
        connected.add(p);
        return CompletableFuture.completedFuture(null);
    }

    /** The pipe of the client connection opened most recently and not taken yet, or null. */
    public Pipe takeConnected() {
        return connected.poll();
    }

    @Override
    public Listener listen(final java.net.SocketAddress local, final Supplier<ConnectionHandler> handlers) {
        listener = handlers;
        listenAddress = local;
        return new Listener() {
            @Override
            public java.net.SocketAddress localAddress() {
                return local;
            }

            @Override
            public void close() {
                listener = null;
            }
        };
    }

    /** A new connection to the listening server, opened (the engine's {@code onOpen} has run). */
    public Pipe accept() {
        final Supplier<ConnectionHandler> l = listener;
        if (l == null) {
            throw new IllegalStateException("nothing listens");
        }
        final Pipe p = new Pipe(l.get(), listenAddress);
        p.open();
        return p;
    }

    @Override
    public void close() {
        listener = null;
    }

    /** One connection's socket, driven by the test thread. */
    public static final class Pipe implements Transport {
        private static final InetSocketAddress PEER = new InetSocketAddress("127.0.0.1", 40000);

        private final ConnectionHandler handler;
        private final java.net.SocketAddress local;
        private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
        private final ByteBuffer[] gather = new ByteBuffer[64];
        private volatile Throwable closeReason;
        private boolean closedReported;
        private int suspensions;
        private boolean resumed;
        private long written;
        private java.io.ByteArrayOutputStream recorded; // null: not recording

        Pipe(final ConnectionHandler handler, final java.net.SocketAddress local) {
            this.handler = handler;
            this.local = local;
        }

        void open() {
            handler.onOpen(this);
        }

        /**
         * Delivers {@code bytes} as reads of at most {@code chunk} bytes each (fewer when the engine's buffer
         * has less room), stopping early if the engine suspends reading or closes the connection.
         *
         * @return how many bytes were delivered
         */
        public int feed(final byte[] bytes, final int chunk) {
            int off = 0;
            while (off < bytes.length && closeReason == null && suspensions == 0) {
                final ByteBuffer in = handler.inboundBuffer();
                if (!in.hasRemaining()) {
                    throw new AssertionError("the engine's inbound buffer has no room (ConnectionHandler promises some)");
                }
                final int n = Math.min(Math.min(chunk, in.remaining()), bytes.length - off);
                in.put(bytes, off, n);
                off += n;
                handler.onInbound(n);
                pump();
            }
            return off;
        }

        /** Runs queued tasks, resumes reading when asked, and writes whatever the engine has queued. */
        public void pump() {
            for (int round = 0; round < 1000 && closeReason == null; round++) {
                boolean work = false;
                for (Runnable t = tasks.poll(); t != null; t = tasks.poll()) {
                    t.run();
                    work = true;
                }
                if (resumed) {
                    resumed = false;
                    handler.onInbound(0);
                    work = true;
                }
                if (drain() > 0) {
                    work = true;
                }
                if (!work) {
                    return;
                }
            }
        }

        /** Writes everything the engine hands out (the socket takes it all). @return bytes written */
        public long drain() {
            long total = 0;
            while (closeReason == null) {
                final int n = handler.gatherOutbound(gather);
                if (n == 0) {
                    break;
                }
                long bytes = 0;
                for (int i = 0; i < n; i++) {
                    bytes += gather[i].remaining();
                    if (recorded != null) {
                        final byte[] b = new byte[gather[i].remaining()];
                        gather[i].get(b);
                        recorded.writeBytes(b);
                    }
                    gather[i].position(gather[i].limit());
                    gather[i] = null;
                }
                handler.onOutboundWritten(bytes);
                total += bytes;
            }
            written += total;
            return total;
        }

        /** Keeps a copy of what the engine writes from now on, for {@link #recorded()}. */
        public Pipe record() {
            recorded = new java.io.ByteArrayOutputStream();
            return this;
        }

        /** What the engine wrote since {@link #record()}, and forgets it. */
        public byte[] recorded() {
            final byte[] b = recorded.toByteArray();
            recorded.reset();
            return b;
        }

        /** Bytes the engine wrote so far. */
        public long written() {
            return written;
        }

        /** True once the engine (or {@link #closeFromPeer}) closed the connection. */
        public boolean isClosed() {
            return closeReason != null;
        }

        public Throwable closeReason() {
            return closeReason;
        }

        /** Ends the connection as a peer that goes away would, and reports the close to the engine once. */
        public void closeFromPeer() {
            if (closeReason == null) {
                handler.onInputClosed();
            }
            finish();
        }

        /** Reports the close to the engine (after the last reader and writer calls), once. */
        public void finish() {
            if (closeReason == null) {
                closeReason = new java.io.EOFException("test ended the connection");
            }
            if (!closedReported) {
                closedReported = true;
                tasks.clear();
                handler.onClosed(closeReason);
            }
        }

        // ---------------------------------------------------------------- Transport (any thread)

        @Override
        public void requestFlush() {
            // the driving thread drains after every step
        }

        @Override
        public void setReadSuspended(final boolean suspended) {
            if (suspended) {
                suspensions++;
            } else if (--suspensions == 0) {
                resumed = true;
            }
        }

        @Override
        public void execute(final Runnable task) {
            tasks.add(task);
        }

        @Override
        public void close(final Throwable reason) {
            if (closeReason == null) {
                closeReason = reason;
            }
        }

        @Override
        public SocketAddress localAddress() {
            return local;
        }

        @Override
        public SocketAddress remoteAddress() {
            return PEER;
        }

        @Override
        public String backendName() {
            return "in-memory";
        }
    }

    /** Frames as a peer would send them (header fields as given: they may be invalid on purpose). */
    public static byte[] frame(final int prog, final int vers, final int proc, final int type, final int serial,
                               final int status, final byte[] payload) {
        final ByteBuffer b = ByteBuffer.allocate(28 + payload.length);
        b.putInt(28 + payload.length).putInt(prog).putInt(vers).putInt(proc).putInt(type).putInt(serial)
                .putInt(status).put(payload);
        return b.array();
    }

    /** The frames of {@code chunks}, concatenated. */
    public static byte[] concat(final List<byte[]> chunks) {
        int n = 0;
        for (byte[] c : chunks) {
            n += c.length;
        }
        final ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] c : chunks) {
            b.put(c);
        }
        return b.array();
    }

    static List<byte[]> list() {
        return new ArrayList<>();
    }
}
