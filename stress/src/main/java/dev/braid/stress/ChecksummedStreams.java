package dev.braid.stress;

import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.RemoteException;
import dev.braid.StreamOptions;

import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.LongAdder;

/**
 * Two stream procedures whose data is checked end to end with CRC32C ({@link Payload}), shared by the
 * scenarios, with both ends in this process.
 *
 * <ul>
 *   <li>{@link #UP}: the client writes, the server reads to the end and compares the CRC32C with the one in
 *   the opening call's arguments; on a mismatch it aborts the stream with a remote_error naming both
 *   values, which the client's {@code finish()} throws.</li>
 *   <li>{@link #DOWN}: the server writes, the client reads and compares.</li>
 * </ul>
 *
 * Arguments of the opening call (16 bytes, big-endian):
 * <pre>
 *   0  seed    int    which content (Payload)
 *   4  length  long   bytes to move
 *  12  flags   int    FLAG_WATCH: the server records the stream in {@link #watched};
 *                     FLAG_STALL (UP only): the server does not read until {@link #releaseStalled()}
 * </pre>
 *
 * Handlers run on braid's handler threads (one virtual thread per stream); the counters and
 * {@link #watched} may be read from any thread.
 */
final class ChecksummedStreams {
    static final int PROGRAM = 0x73747273; // "strs"
    static final Procedure UP = Procedure.of(PROGRAM, 2, 1);
    static final Procedure DOWN = Procedure.of(PROGRAM, 2, 2);
    static final int FLAG_WATCH = 1;
    static final int FLAG_STALL = 2;

    /** Thrown by the client side when the data it received does not match. */
    static final class ChecksumMismatch extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ChecksumMismatch(final String message) {
            super(message);
        }
    }

    private final int chunk;
    /** Mismatches the server found (uploads). */
    final LongAdder serverMismatches = new LongAdder();
    /** Server handlers that failed for another reason (an abort, a closed connection). */
    final LongAdder serverErrors = new LongAdder();
    /** Server streams opened with FLAG_WATCH, by seed. */
    final Map<Integer, BraidStream> watched = new ConcurrentHashMap<>();
    private final CountDownLatch stallGate = new CountDownLatch(1);

    /** @param chunk largest single write, in bytes */
    ChecksummedStreams(final int chunk) {
        this.chunk = chunk;
    }

    BraidServer.Builder register(final BraidServer.Builder b) {
        return b.stream(UP, (call, stream) -> {
            final ByteBuffer a = call.args();
            final int seed = a.getInt(0);
            final long length = a.getLong(4);
            final int flags = a.getInt(12);
            call.reply(new byte[0]);
            watch(seed, flags, stream);
            try {
                if ((flags & FLAG_STALL) != 0) {
                    stallGate.await();
                }
                final long[] got = Payload.receive(stream);
                final int expected = Payload.crc(seed, length);
                if (got[0] != length || (int) got[1] != expected) {
                    serverMismatches.increment();
                    throw new IllegalStateException(String.format("CRC32C mismatch on upload %d: expected %d bytes crc %08x,"
                            + " received %d bytes crc %08x", seed, length, expected, got[0], (int) got[1]));
                }
                stream.finish();
            } catch (RuntimeException | InterruptedException e) {
                if (!(e instanceof IllegalStateException)) {
                    serverErrors.increment();
                }
                throw e;
            }
        }).stream(DOWN, (call, stream) -> {
            final ByteBuffer a = call.args();
            final int seed = a.getInt(0);
            final long length = a.getLong(4);
            final int flags = a.getInt(12);
            call.reply(new byte[0]);
            watch(seed, flags, stream);
            try {
                Payload.send(stream, seed, length, chunk);
                stream.finish();
            } catch (RuntimeException e) {
                serverErrors.increment();
                throw e;
            }
        });
    }

    private void watch(final int seed, final int flags, final BraidStream stream) {
        if ((flags & FLAG_WATCH) != 0) {
            watched.put(seed, stream);
        }
    }

    /** Lets every server handler waiting under FLAG_STALL read. */
    void releaseStalled() {
        stallGate.countDown();
    }

    static ByteBuffer args(final int seed, final long length, final int flags) {
        return ByteBuffer.allocate(16).putInt(0, seed).putLong(4, length).putInt(12, flags);
    }

    static BraidStream open(final Connection c, final Procedure p, final int seed, final long length, final int flags,
                            final StreamOptions options) {
        return c.openStream(p, args(seed, length, flags), options);
    }

    /** Client side of an upload on an open stream: writes, finishes; a server-side mismatch is rethrown as ChecksumMismatch. */
    void upload(final BraidStream s, final int seed, final long length) {
        Payload.send(s, seed, length, chunk);
        try {
            s.finish();
        } catch (RemoteException e) {
            if (String.valueOf(e.getMessage()).contains("CRC32C mismatch")) {
                throw new ChecksumMismatch(e.getMessage());
            }
            throw e;
        }
    }

    /** Client side of a download on an open stream: reads to the end, checks, finishes. */
    static void download(final BraidStream s, final int seed, final long length) {
        final long[] got = Payload.receive(s);
        final int expected = Payload.crc(seed, length);
        s.finish();
        if (got[0] != length || (int) got[1] != expected) {
            throw new ChecksumMismatch(String.format("CRC32C mismatch on download %d: expected %d bytes crc %08x, "
                    + "received %d bytes crc %08x", seed, length, expected, got[0], (int) got[1]));
        }
    }
}
