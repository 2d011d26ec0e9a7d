package dev.braid.internal.engine.stream;

import dev.braid.BraidConfig;
import dev.braid.Procedure;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;

import java.nio.ByteBuffer;

/**
 * One stream's send side and its connection's scheduler, without a socket, for tests of the open packet's
 * hand-over (whole packets) between the writing thread and the connection's writer: {@code OpenPacketRaceTest}
 * here and the jcstress module's {@code OpenPacketTests} (which is why it is public, in core's test-jar).
 * Packets are {@link #MAX_PACKET} bytes at most, so a race needs little memory; no flow control, so only the
 * ring and the open packet decide what goes.
 *
 * <p><b>Threads.</b> One writing thread ({@link #write}); one thread in the connection writer's role
 * ({@link #pumpOnce}, {@link #dropHead}, {@link #drain}), which checks every packet it takes: its header
 * (length word equal to the bytes it holds, type, serial) and its payload (the next bytes of the pattern the
 * writer wrote). {@link #close} after both are done.
 */
public final class OpenPacketHarness {
    /** The largest payload of a packet. */
    public static final int MAX_PACKET = 64;
    private static final Procedure PROC = Procedure.of(0x4f50454e, 1, 1);
    private static final int SERIAL = 7;

    private final BufferPool pool;
    private final StreamScheduler scheduler = new StreamScheduler();
    private final Outbound outbound;
    private final StreamImpl stream;
    private final PooledBuffer[] batch = new PooledBuffer[64];
    /** Writing thread only. */
    private long written;
    /** Connection writer's role only. */
    private long received;
    private int problems;
    private String firstProblem;

    /**
     * @param pool where packets come from (shared by many harnesses in a jcstress run)
     */
    public OpenPacketHarness(final BufferPool pool) {
        this.pool = pool;
        final ReadGate gate = new ReadGate();
        this.outbound = new Outbound(scheduler, gate, 1024);
        final StreamTable table = new StreamTable(new BraidConfig(), pool, outbound, scheduler, gate,
                new StreamTable.Role() {
                    @Override
                    public void streamEnded(final StreamHandle s) {
                    }

                    @Override
                    public void streamSlotFree(final StreamHandle s) {
                    }
                });
        this.stream = (StreamImpl) table.register(PROC, SERIAL, false, false, Long.MAX_VALUE,
                FrameHeader.HEADER_LENGTH + MAX_PACKET, 1);
    }

    /**
     * Writing thread: writes the next {@code n} bytes of the pattern (one {@code write} call).
     *
     * @param n bytes
     */
    public void write(final int n) {
        final byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = at(written + i);
        }
        stream.write(ByteBuffer.wrap(b));
        written += n;
    }

    /**
     * Connection writer's role: one scheduler pass; checks and releases what it sent. An exception in the
     * pass counts as a problem.
     *
     * @return packets sent
     */
    public int pumpOnce() {
        final int n;
        try {
            n = scheduler.pump(batch, 0, batch.length, Outbound.STREAM_QUANTUM);
        } catch (RuntimeException e) {
            problem("the scheduler threw " + e);
            return 0;
        }
        for (int i = 0; i < n; i++) {
            check(batch[i]);
            batch[i].release();
            batch[i] = null;
        }
        return n;
    }

    /**
     * Connection writer's role: takes the packet at the ring's head without sealing anything (to leave an
     * open packet at the head when preparing a race), checks and releases it.
     *
     * @return whether there was one and the token was free
     */
    public boolean dropHead() {
        final StreamSender s = stream.sender;
        if (!s.takeOutToken()) {
            return false;
        }
        try {
            final PooledBuffer f = s.pollRing();
            if (f == null) {
                return false;
            }
            check(f);
            f.release();
            return true;
        } finally {
            s.releaseOutToken();
        }
    }

    /**
     * Connection writer's role, once the writing thread is done: pumps until {@code total} payload bytes
     * arrived, a problem was found, or a pass sends nothing twice in a row.
     *
     * @param total bytes the writer wrote in all
     */
    public void drain(final long total) {
        int idle = 0;
        while (received < total && problems == 0 && idle < 2) {
            idle = pumpOnce() == 0 ? idle + 1 : 0;
        }
    }

    /** @return payload bytes received in order so far */
    public long received() {
        return received;
    }

    /** @return packets found malformed, out of order, or passes that threw */
    public int problems() {
        return problems;
    }

    /** @return what the first problem was, or null */
    public String firstProblem() {
        return firstProblem;
    }

    /** Aborts the stream (the writing thread, if blocked, fails), releases what is queued. Any thread, at the end. */
    public void close() {
        stream.abort("harness closed");
        for (int i = 0; i < 4 && pumpOnce() > 0; i++) {
            // what the abort queued on no lane of ours; the ring was drained by the abort
        }
        outbound.close();
    }

    private void check(final PooledBuffer f) {
        final ByteBuffer b = f.byteBuffer();
        final int len = b.remaining() >= FrameHeader.HEADER_LENGTH ? Frames.length(f) : -1;
        if (len != b.remaining() || Frames.type(f) != FrameHeader.TYPE_STREAM || Frames.serial(f) != SERIAL
                || Frames.status(f) != FrameHeader.STATUS_CONTINUE) {
            problem("a malformed packet: " + b.remaining() + " bytes, length word " + len);
            return;
        }
        for (int i = FrameHeader.HEADER_LENGTH; i < len; i++) {
            if (b.get(i) != at(received)) {
                problem("byte " + received + " of the stream is wrong (packet of " + len + " bytes)");
                return;
            }
            received++;
        }
    }

    private void problem(final String what) {
        if (problems++ == 0) {
            firstProblem = what;
        }
    }

    private static byte at(final long i) {
        return (byte) (i * 31 + (i >>> 8));
    }

    /** @return the pool the harness takes packets from */
    public BufferPool pool() {
        return pool;
    }
}
