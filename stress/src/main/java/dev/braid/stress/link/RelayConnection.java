package dev.braid.stress.link;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One connection through a {@link TcpRelay}: the client's socket, the socket to the target, and a
 * {@link DelayLine} each way, each driven by a reader thread (socket to line) and a writer thread (line to
 * socket). An end of stream crosses like data (after the same delay, as a FIN); a reset or an I/O error on
 * either side resets both at once (RST).
 *
 * <p>Per-connection faults: {@link #resetMidFrame} (cut one direction strictly inside a libvirt frame, then
 * RST both sides), {@link #halfClose} (FIN to one side now, the other direction keeps working), {@link #reset}.
 * Any thread may call any method.
 */
public final class RelayConnection {
    /** Which way bytes move. */
    public enum Direction {
        /** From the client that connected to the relay towards the relay's target. */
        TO_TARGET,
        /** From the target back to the client. */
        TO_CLIENT
    }

    private final TcpRelay relay;
    private final String name;
    private final SocketChannel client;
    private final SocketChannel target;
    private final Pump toTarget;
    private final Pump toClient;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicInteger endsDelivered = new AtomicInteger();
    private final CompletableFuture<String> closeFuture = new CompletableFuture<>();

    RelayConnection(final TcpRelay relay, final String name, final SocketChannel client, final SocketChannel target) {
        this.relay = relay;
        this.name = name;
        this.client = client;
        this.target = target;
        final int chunk = chunkSize(relay.spec().bytesPerSecond());
        this.toTarget = new Pump(Direction.TO_TARGET, client, target, chunk);
        this.toClient = new Pump(Direction.TO_CLIENT, target, client, chunk);
    }

    /** Read size: about half a millisecond at the link's rate, within [1,500, 65,536] bytes. */
    static int chunkSize(final long rate) {
        return rate == 0 ? 65_536 : (int) Math.max(1_500, Math.min(65_536, rate / 2_000));
    }

    void start() {
        toTarget.start();
        toClient.start();
    }

    public DelayLine line(final Direction d) {
        return pump(d).line;
    }

    public boolean isClosed() {
        return closed.get();
    }

    /** Completes with how the connection ended ("closed", "reset: ...") once both sockets are closed. */
    public CompletableFuture<String> closeFuture() {
        return closeFuture;
    }

    /**
     * Arms a cut in direction {@code d}: the next frame of at least {@code minFrameBytes} is delivered up
     * to its middle (or, if such a frame is already partly delivered, nothing more of it), then both sides
     * are reset. Completes with where the cut fell once the reset is done.
     */
    public CompletableFuture<FrameCut> resetMidFrame(final Direction d, final int minFrameBytes) {
        final Pump p = pump(d);
        final CompletableFuture<FrameCut> f = new CompletableFuture<>();
        p.cutMinFrame = minFrameBytes;
        p.cut = f;
        return f;
    }

    /**
     * Half-close: the receiver of direction {@code d} gets a FIN now (it reads end of stream) and what the
     * other end sends that way from now on is dropped; the opposite direction keeps working.
     */
    public void halfClose(final Direction d) {
        final Pump p = pump(d);
        p.halfClosed = true;
        try {
            p.dst.shutdownOutput();
        } catch (IOException e) {
            // already gone
        }
    }

    /** Resets both sides now (RST), dropping what the lines hold. */
    public void reset() {
        abort("reset by the emulator");
    }

    /** Closes both sockets gracefully (FIN), dropping what the lines hold. */
    void close() {
        if (closed.compareAndSet(false, true)) {
            toTarget.line.close();
            toClient.line.close();
            TcpRelay.closeQuietly(client);
            TcpRelay.closeQuietly(target);
            closeFuture.complete("closed");
        }
    }

    private void abort(final String why) {
        if (closed.compareAndSet(false, true)) {
            toTarget.line.close();
            toClient.line.close();
            resetQuietly(client);
            resetQuietly(target);
            closeFuture.complete("reset: " + why);
        }
    }

    /** Closes {@code ch} with SO_LINGER 0: the peer gets a RST. */
    static void resetQuietly(final SocketChannel ch) {
        if (ch == null) {
            return;
        }
        try {
            ch.setOption(StandardSocketOptions.SO_LINGER, 0);
        } catch (IOException | RuntimeException e) {
            // closing anyway
        }
        TcpRelay.closeQuietly(ch);
    }

    void join(final Duration max) throws InterruptedException {
        final long deadline = System.nanoTime() + max.toNanos();
        for (Pump p : new Pump[]{toTarget, toClient}) {
            for (Thread t : new Thread[]{p.reader, p.writer}) {
                if (t != null) {
                    t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                }
            }
        }
    }

    private Pump pump(final Direction d) {
        return d == Direction.TO_TARGET ? toTarget : toClient;
    }

    private void endDelivered() {
        if (endsDelivered.incrementAndGet() == 2) {
            close(); // both sides finished: an orderly close
        }
    }

    @Override
    public String toString() {
        return "relay connection " + name;
    }

    /** One direction: src socket, line, dst socket. */
    private final class Pump {
        final Direction direction;
        final SocketChannel src;
        final SocketChannel dst;
        final DelayLine line;
        final int chunk;
        final FrameCursor frames = new FrameCursor();
        volatile boolean halfClosed;
        volatile CompletableFuture<FrameCut> cut;
        volatile int cutMinFrame;
        Thread reader;
        Thread writer;

        Pump(final Direction direction, final SocketChannel src, final SocketChannel dst, final int chunk) {
            this.direction = direction;
            this.src = src;
            this.dst = dst;
            this.chunk = chunk;
            this.line = new DelayLine(relay.spec(), relay.linkControl(), chunk);
        }

        void start() {
            final String base = "link-relay-" + name + "-" + (direction == Direction.TO_TARGET ? "up" : "down");
            reader = Thread.ofPlatform().daemon().name(base + "-in").start(this::readLoop);
            writer = Thread.ofPlatform().daemon().name(base + "-out").start(this::writeLoop);
        }

        private void readLoop() {
            try {
                while (!closed.get()) {
                    final long wait = line.admissionDelayNanos(System.nanoTime());
                    if (wait > 0) {
                        LockSupport.parkNanos(wait);
                        continue;
                    }
                    final byte[] chunkBytes = line.buffer(); // read straight into the line's array (chunk bytes)
                    final int n = src.read(ByteBuffer.wrap(chunkBytes));
                    if (n > 0 && !halfClosed) {
                        line.offer(chunkBytes, n, false);
                        continue;
                    }
                    line.recycle(chunkBytes);
                    if (n < 0) {
                        line.offerEnd();
                        return;
                    }
                }
            } catch (IOException e) {
                // a reset crosses a blackhole only once it lifts (as a retransmitted segment would)
                while (!closed.get() && relay.control().blackholed()) {
                    LockSupport.parkNanos(10_000_000);
                }
                if (!closed.get()) {
                    abort(direction + " read: " + e.getMessage());
                }
            }
        }

        private void writeLoop() {
            final ByteBuffer one = ByteBuffer.allocate(1);
            try {
                DelayLine.Item item;
                while ((item = line.take()) != null) {
                    if (item.end()) {
                        if (!halfClosed) {
                            dst.shutdownOutput();
                        }
                        endDelivered();
                        return;
                    }
                    if (halfClosed) {
                        line.lost(item);
                        continue;
                    }
                    final CompletableFuture<FrameCut> armed = cut;
                    if (armed != null) {
                        final FrameCut c = frames.cutPoint(item.data(), 0, item.length(), cutMinFrame);
                        if (c != null) {
                            final int before = (int) (c.offset() - frames.offset());
                            write(item.data(), before, one);
                            frames.advance(item.data(), 0, before);
                            line.lost(item);
                            Thread.sleep(20); // let the partial frame reach the receiver before the RST
                            abort(direction + " cut inside a frame at byte " + c.offset() + " (frame of "
                                    + c.frameLength() + " bytes at " + c.frameStart() + ")");
                            armed.complete(c);
                            return;
                        }
                    }
                    write(item.data(), item.length(), one);
                    frames.advance(item.data(), 0, item.length());
                    line.delivered(item);
                }
            } catch (IOException e) {
                if (!closed.get() && !halfClosed) {
                    abort(direction + " write: " + e.getMessage());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void write(final byte[] data, final int length, final ByteBuffer one) throws IOException {
            if (relay.control().oneByteSegments()) {
                for (int i = 0; i < length; i++) {
                    one.clear();
                    one.put(0, data[i]);
                    while (one.hasRemaining()) {
                        dst.write(one);
                    }
                }
                if (length > 1) {
                    line.countWrites(length);
                }
                return;
            }
            final ByteBuffer b = ByteBuffer.wrap(data, 0, length);
            while (b.hasRemaining()) {
                dst.write(b);
            }
        }
    }
}
