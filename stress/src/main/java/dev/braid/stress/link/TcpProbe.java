package dev.braid.stress.link;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * Plain TCP through a link, the yardstick braid is compared with: a server with three services chosen by the
 * first byte a client sends ({@code 'S'} source: writes until the client goes away; {@code 'K'} sink: reads and
 * discards; {@code 'E'} echo: answers each ping of {@code n} bytes with the same bytes) and the client side of
 * each. Sockets keep the operating system's defaults (Linux autotuning), as a plain TCP application would.
 *
 * <p>Threads: the server accepts on one platform daemon thread and serves each connection on a virtual
 * thread; the client methods block the calling thread.
 */
public final class TcpProbe implements AutoCloseable {
    private static final int CHUNK = 256 * 1024;
    private final ServerSocketChannel listener;
    private final Thread acceptor;
    private final AtomicLong served = new AtomicLong();
    private volatile boolean closed;

    private TcpProbe(final InetSocketAddress bind) throws IOException {
        listener = ServerSocketChannel.open();
        listener.bind(bind);
        acceptor = Thread.ofPlatform().daemon().name("tcp-probe-accept").start(this::acceptLoop);
    }

    /** A probe server listening on {@code bind} (port 0: any free port). */
    public static TcpProbe listen(final InetSocketAddress bind) throws IOException {
        return new TcpProbe(bind);
    }

    public InetSocketAddress address() {
        try {
            return (InetSocketAddress) listener.getLocalAddress();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                final SocketChannel c = listener.accept();
                served.incrementAndGet();
                Thread.ofVirtual().name("tcp-probe-conn").start(() -> serve(c));
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                // a client that vanished before accept: next
            }
        }
    }

    private static void serve(final SocketChannel c) {
        try (c) {
            c.setOption(StandardSocketOptions.TCP_NODELAY, true);
            final ByteBuffer first = ByteBuffer.allocate(1);
            while (first.hasRemaining()) {
                if (c.read(first) < 0) {
                    return;
                }
            }
            final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            switch (first.get(0)) {
                case 'S' -> {
                    while (true) {
                        buf.clear();
                        c.write(buf);
                    }
                }
                case 'K' -> {
                    while (c.read(buf.clear()) >= 0) {
                        // discard
                    }
                }
                case 'E' -> {
                    while (true) {
                        buf.clear();
                        final int n = c.read(buf);
                        if (n < 0) {
                            return;
                        }
                        buf.flip();
                        while (buf.hasRemaining()) {
                            c.write(buf);
                        }
                    }
                }
                default -> {
                    // unknown: close
                }
            }
        } catch (IOException e) {
            // the client went away: the normal end of S
        }
    }

    @Override
    public void close() {
        closed = true;
        TcpRelay.closeQuietly(listener);
        try {
            acceptor.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Downloads from the source service at {@code server} for {@code warmup + measure}; returns the bytes per
     * second received during {@code measure} (after the warm-up, so slow start is mostly left out).
     */
    public static double downloadRate(final InetSocketAddress server, final Duration warmup, final Duration measure)
            throws IOException {
        try (SocketChannel c = SocketChannel.open(server)) {
            c.write(ByteBuffer.wrap(new byte[]{'S'}));
            final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            final long start = System.nanoTime();
            final long measureFrom = start + warmup.toNanos();
            final long end = measureFrom + measure.toNanos();
            long bytes = 0;
            long t0 = -1;
            long now;
            while ((now = System.nanoTime()) - end < 0) {
                buf.clear();
                final int n = c.read(buf);
                if (n < 0) {
                    throw new IOException("source closed early");
                }
                if (now - measureFrom >= 0) {
                    if (t0 < 0) {
                        t0 = now;
                    } else {
                        bytes += n;
                    }
                }
            }
            final double secs = (System.nanoTime() - t0) / 1e9;
            return bytes / secs;
        }
    }

    /** Seconds from connecting to the source service to receiving {@code bytes} bytes (slow start included). */
    public static double secondsToDownload(final InetSocketAddress server, final long bytes) throws IOException {
        return secondsToDownload(server, bytes, null);
    }

    /**
     * Seconds from connecting to the source service to having {@code bytes} bytes in {@code file}, written as
     * they arrive and forced to disk at the end ({@code FileChannel.force(false)}, as {@code braid get} does):
     * plain TCP doing a file transfer's work, the yardstick for the command line.
     */
    public static double secondsToDownloadToFile(final InetSocketAddress server, final long bytes,
                                                 final Path file) throws IOException {
        return secondsToDownload(server, bytes, file);
    }

    /**
     * {@link #secondsToDownloadToFile} as a command of its own, so that plain TCP can be measured the way the
     * command line runs: a fresh JVM (its code not yet compiled) that downloads once and ends.
     * Arguments: {@code HOST PORT BYTES FILE}; prints the seconds on standard output.
     */
    public static void main(final String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: TcpProbe HOST PORT BYTES FILE");
            System.exit(2);
        }
        final double secs = secondsToDownloadToFile(new InetSocketAddress(args[0], Integer.parseInt(args[1])),
                Long.parseLong(args[2]), Path.of(args[3]));
        System.out.println(secs);
    }

    /** Both of the above: into {@code file} (forced at the end) unless it is null. */
    private static double secondsToDownload(final InetSocketAddress server, final long bytes, final Path file)
            throws IOException {
        final long t0 = System.nanoTime();
        try (SocketChannel c = SocketChannel.open(server);
             FileChannel out = file == null ? null : FileChannel.open(file, StandardOpenOption.CREATE,
                     StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            c.write(ByteBuffer.wrap(new byte[]{'S'}));
            final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            long got = 0;
            while (got < bytes) {
                buf.clear();
                if (bytes - got < CHUNK) {
                    buf.limit((int) (bytes - got));
                }
                final int n = c.read(buf);
                if (n < 0) {
                    throw new IOException("source closed early");
                }
                got += n;
                if (out != null) {
                    buf.flip();
                    while (buf.hasRemaining()) {
                        out.write(buf);
                    }
                }
            }
            if (out != null) {
                out.force(false);
            }
            return (System.nanoTime() - t0) / 1e9;
        }
    }

    /**
     * Downloads for {@code total}, calling {@code sample} with the bytes received so far every time a
     * read returns (for rate changes mid-transfer); returns the bytes received.
     */
    public static long download(final InetSocketAddress server, final Duration total, final LongConsumer sample)
            throws IOException {
        try (SocketChannel c = SocketChannel.open(server)) {
            c.write(ByteBuffer.wrap(new byte[]{'S'}));
            final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            final long end = System.nanoTime() + total.toNanos();
            long bytes = 0;
            while (System.nanoTime() - end < 0) {
                buf.clear();
                final int n = c.read(buf);
                if (n < 0) {
                    throw new IOException("source closed early");
                }
                bytes += n;
                sample.accept(bytes);
            }
            return bytes;
        }
    }

    /**
     * {@code count} ping-pongs of {@code size} bytes, one at a time, on one connection to the echo service;
     * reports each round trip in nanoseconds to {@code rtt}.
     */
    public static void pingPong(final InetSocketAddress server, final int count, final int size, final LongConsumer rtt)
            throws IOException {
        try (SocketChannel c = SocketChannel.open(server)) {
            c.setOption(StandardSocketOptions.TCP_NODELAY, true);
            c.write(ByteBuffer.wrap(new byte[]{'E'}));
            final ByteBuffer ping = ByteBuffer.allocateDirect(size);
            final ByteBuffer pong = ByteBuffer.allocateDirect(size);
            for (int i = 0; i < count; i++) {
                ping.clear();
                pong.clear();
                final long t0 = System.nanoTime();
                while (ping.hasRemaining()) {
                    c.write(ping);
                }
                while (pong.hasRemaining()) {
                    if (c.read(pong) < 0) {
                        throw new IOException("echo closed early");
                    }
                }
                rtt.accept(System.nanoTime() - t0);
            }
        }
    }
}
