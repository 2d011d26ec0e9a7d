package dev.braid.internal.wire;

import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static dev.braid.internal.wire.FrameHeader.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Header validation, allocation discipline, the large-frame direct path, pause / resume and close. */
class FrameDecoderTest {
    private static final int MAX = 4096;
    private static final int PROG = 0x20008086;

    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
    private final List<FrameDecoder> decoders = new ArrayList<>();

    @AfterEach
    void closeAndCheckLeaks() {
        decoders.forEach(FrameDecoder::close);
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    /** A decoder that reads at readBufferSize from the start (the idle start is tested on its own), its buffer taken. */
    private FrameDecoder decoder(final int maxMessage, final int readBufferSize) {
        final FrameDecoder d = new FrameDecoder(pool, maxMessage, readBufferSize, readBufferSize);
        decoders.add(d);
        d.inboundBuffer();
        return d;
    }

    /** A header only (no payload bytes), as the start of a frame of {@code length} bytes. */
    private static byte[] header(final int length, final int type, final int serial, final int status) {
        final ByteBuffer b = ByteBuffer.allocate(HEADER_LENGTH);
        Frames.writeHeader(b, length, PROG, 1, 7, type, serial, status);
        return b.array();
    }

    private static byte[] frame(final int type, final int serial, final int status, final int payloadLength) {
        final ByteBuffer b = ByteBuffer.allocate(HEADER_LENGTH + payloadLength);
        Frames.writeHeader(b, HEADER_LENGTH + payloadLength, PROG, 1, 7, type, serial, status);
        for (int i = HEADER_LENGTH; i < b.capacity(); i++) {
            b.put(i, (byte) i);
        }
        return b.array();
    }

    private static void put(final FrameDecoder d, final byte[] bytes) {
        d.inboundBuffer().put(bytes);
    }

    private static final FrameDecoder.FrameSink RELEASE = f -> {
        f.release();
        return true;
    };

    /** Feeds {@code bytes} and expects a ProtocolException whose message contains {@code expected}, with no buffer acquired. */
    private void assertRejected(final FrameDecoder d, final byte[] bytes, final String expected) {
        final long allocations = pool.allocations();
        final long outstanding = pool.outstanding();
        final long allocatedBytes = pool.allocatedBytes();
        put(d, bytes);
        assertThatThrownBy(() -> d.decode(f -> {
            f.release();
            throw new AssertionError("no frame expected");
        })).isInstanceOf(ProtocolException.class).hasMessageContaining(expected);
        assertThat(pool.allocations()).as("allocations").isEqualTo(allocations);
        assertThat(pool.outstanding()).as("outstanding").isEqualTo(outstanding);
        assertThat(pool.allocatedBytes()).as("allocatedBytes").isEqualTo(allocatedBytes);
    }

    // ------------------------------------------------------------------ the length word, alone

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 4, 27})
    void rejectsLengthBelow28FromTheLengthWordAlone(final int length) {
        final FrameDecoder d = decoder(MAX, 4096);
        assertRejected(d, ByteBuffer.allocate(4).putInt(length).array(), "below the minimum of 28");
    }

    @ParameterizedTest
    @ValueSource(ints = {MAX + 1, 1 << 20, Integer.MAX_VALUE, Integer.MIN_VALUE, -1})
    void rejectsLengthAboveMaxFromTheLengthWordAlone(final int length) {
        final FrameDecoder d = decoder(MAX, 4096);
        assertRejected(d, ByteBuffer.allocate(4).putInt(length).array(),
                "frame length " + Integer.toUnsignedString(length) + " exceeds the limit maxMessageSize = " + MAX);
    }

    @Test
    void rejectsAHugeLengthWithoutAllocatingEvenWhenTheMaxIsLarge() {
        final FrameDecoder d = decoder(DEFAULT_MAX_MESSAGE, 4096);
        assertRejected(d, ByteBuffer.allocate(4).putInt(DEFAULT_MAX_MESSAGE + 1).array(), "exceeds the limit");
    }

    @Test
    void acceptsTheSmallestAndTheLargestLegalLengths() {
        final FrameDecoder d = decoder(MAX, 64);
        final List<byte[]> got = new ArrayList<>();
        final byte[] smallest = frame(TYPE_CALL, 1, STATUS_OK, 0);
        final byte[] largest = frame(TYPE_REPLY, 1, STATUS_OK, MAX - HEADER_LENGTH);
        WireTesting.feed(d, WireTesting.concat(List.of(smallest, largest, smallest)), () -> 1000, f -> {
            got.add(WireTesting.bytesOf(f));
            f.release();
            return true;
        }, null);
        assertThat(got).hasSize(3);
        assertThat(got.get(0)).containsExactly(smallest);
        WireTesting.assertSameBytes(got.get(1), largest);
        assertThat(got.get(2)).containsExactly(smallest);
    }

    // ------------------------------------------------------------------ header fields

    @ParameterizedTest
    @ValueSource(ints = {TYPE_CALL_WITH_FDS, TYPE_REPLY_WITH_FDS})
    void refusesFdPassingTypes(final int type) {
        final FrameDecoder d = decoder(MAX, 4096);
        assertRejected(d, header(100, type, 5, STATUS_OK), "file descriptor passing");
        final FrameDecoder d2 = decoder(MAX, 4096);
        assertRejected(d2, header(100, type, 5, STATUS_OK), FrameHeader.typeName(type));
    }

    @ParameterizedTest
    @ValueSource(ints = {7, 8, 100, -1, Integer.MIN_VALUE})
    void rejectsUnknownTypes(final int type) {
        assertRejected(decoder(MAX, 4096), header(100, type, 5, STATUS_OK), "unknown message type " + type);
    }

    @ParameterizedTest
    @ValueSource(ints = {3, 4, -1, 0x100})
    void rejectsUnknownStatuses(final int status) {
        assertRejected(decoder(MAX, 4096), header(100, TYPE_STREAM, 5, status), "unknown message status " + status);
    }

    @ParameterizedTest
    @ValueSource(ints = {STATUS_ERROR, STATUS_CONTINUE})
    void rejectsCallWithStatusOtherThanOk(final int status) {
        assertRejected(decoder(MAX, 4096), header(100, TYPE_CALL, 5, status), "CALL must have status OK");
    }

    @Test
    void rejectsReplyWithContinue() {
        assertRejected(decoder(MAX, 4096), header(100, TYPE_REPLY, 5, STATUS_CONTINUE), "REPLY cannot have status CONTINUE");
    }

    /** libvirtd sends its events with serial 1; libvirt's client ignores a MESSAGE's serial, and so does braid. */
    @ParameterizedTest
    @ValueSource(ints = {1, 0x99, -1})
    void acceptsMessageWithAnySerial(final int serial) {
        final FrameDecoder d = decoder(MAX, 4096);
        put(d, header(28, TYPE_MESSAGE, serial, STATUS_OK));
        final WireTesting.CollectingSink sink = new WireTesting.CollectingSink();
        assertThat(d.decode(sink)).isTrue();
        assertThat(sink.frames).hasSize(1);
        d.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {STATUS_ERROR, STATUS_CONTINUE})
    void rejectsMessageWithStatusOtherThanOk(final int status) {
        assertRejected(decoder(MAX, 4096), header(28, TYPE_MESSAGE, 0, status), "MESSAGE must have status OK");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 4, 8, 11, 13, 16, 100})
    void rejectsStreamHoleWithWrongPayloadLength(final int payload) {
        assertRejected(decoder(MAX, 4096), header(HEADER_LENGTH + payload, TYPE_STREAM_HOLE, 5, STATUS_CONTINUE),
                "STREAM_HOLE payload must be 12 bytes");
    }

    @ParameterizedTest
    @ValueSource(ints = {STATUS_OK, STATUS_ERROR})
    void rejectsStreamHoleWithStatusOtherThanContinue(final int status) {
        assertRejected(decoder(MAX, 4096), header(40, TYPE_STREAM_HOLE, 5, status), "STREAM_HOLE must have status CONTINUE");
    }

    @Test
    void acceptsEveryLegalTypeAndStatus() {
        final int[][] legal = {
                {TYPE_CALL, STATUS_OK}, {TYPE_REPLY, STATUS_OK}, {TYPE_REPLY, STATUS_ERROR}, {TYPE_MESSAGE, STATUS_OK},
                {TYPE_STREAM, STATUS_OK}, {TYPE_STREAM, STATUS_ERROR}, {TYPE_STREAM, STATUS_CONTINUE},
                {TYPE_STREAM_HOLE, STATUS_CONTINUE}};
        final List<byte[]> frames = new ArrayList<>();
        for (int[] ts : legal) {
            final int serial = ts[0] == TYPE_MESSAGE ? 0 : 77;
            frames.add(frame(ts[0], serial, ts[1], ts[0] == TYPE_STREAM_HOLE ? 12 : 5));
        }
        final WireTesting.CollectingSink sink = new WireTesting.CollectingSink();
        WireTesting.feed(decoder(MAX, 4096), WireTesting.concat(frames), () -> 3, sink, null);
        assertThat(sink.frames).hasSize(legal.length);
        for (int i = 0; i < legal.length; i++) {
            assertThat(sink.frames.get(i)).containsExactly(frames.get(i));
        }
    }

    /** A bad header behind a good frame in the same read: the good frame is delivered, then the error. */
    @Test
    void deliversFramesBeforeABadOne() {
        final FrameDecoder d = decoder(MAX, 4096);
        final byte[] good = frame(TYPE_CALL, 1, STATUS_OK, 8);
        put(d, good);
        put(d, header(100, TYPE_CALL_WITH_FDS, 2, STATUS_OK));
        final List<byte[]> got = new ArrayList<>();
        assertThatThrownBy(() -> d.decode(f -> {
            got.add(WireTesting.bytesOf(f));
            f.release();
            return true;
        })).isInstanceOf(ProtocolException.class);
        assertThat(got).hasSize(1);
        assertThat(got.get(0)).containsExactly(good);
    }

    // ------------------------------------------------------------------ the large-frame direct path

    @Test
    void largeFrameGetsItsOwnBufferOnlyAfterTheHeaderIsValid() {
        final int length = 100_000;
        final FrameDecoder d = decoder(1 << 20, 4096);
        final ByteBuffer readBuffer = d.inboundBuffer();

        // the header of a large frame with a bad type: nothing allocated
        put(d, header(length, 9, 1, STATUS_OK));
        final long allocations = pool.allocations();
        assertThatThrownBy(() -> d.decode(RELEASE)).isInstanceOf(ProtocolException.class);
        assertThat(pool.allocations()).isEqualTo(allocations);

        // a good one: 27 bytes are not a header yet, 28 are
        final FrameDecoder d2 = decoder(1 << 20, 4096);
        final byte[] wire = frame(TYPE_STREAM, 3, STATUS_CONTINUE, length - HEADER_LENGTH);
        final long outstanding = pool.outstanding();
        d2.inboundBuffer().put(wire, 0, 27);
        assertThat(d2.decode(RELEASE)).isTrue();
        assertThat(pool.outstanding()).isEqualTo(outstanding);
        assertThat(d2.hasPartialFrame()).isTrue();
        assertThat(d2.partialBytes()).isEqualTo(27);

        d2.inboundBuffer().put(wire, 27, 1);
        assertThat(d2.decode(RELEASE)).isTrue();
        assertThat(pool.outstanding()).as("the frame's own buffer").isEqualTo(outstanding + 1);
        final ByteBuffer direct = d2.inboundBuffer();
        assertThat(direct).isNotSameAs(readBuffer);
        assertThat(direct.position()).isEqualTo(HEADER_LENGTH);
        assertThat(direct.limit()).as("reads cannot run past the frame").isEqualTo(length);
        assertThat(d2.partialBytes()).isEqualTo(HEADER_LENGTH);

        // the rest goes straight into that buffer
        final List<PooledBuffer> got = new ArrayList<>();
        int off = HEADER_LENGTH;
        while (off < wire.length) {
            final ByteBuffer dst = d2.inboundBuffer();
            assertThat(dst).isSameAs(direct);
            final int n = Math.min(dst.remaining(), 7000);
            dst.put(wire, off, n);
            off += n;
            d2.decode(f -> got.add(f));
        }
        assertThat(got).hasSize(1);
        assertThat(got.get(0).byteBuffer()).isSameAs(direct);
        WireTesting.assertSameBytes(WireTesting.bytesOf(got.get(0)), wire);
        got.get(0).release();
        assertThat(d2.hasPartialFrame()).isFalse();
        assertThat(d2.inboundBuffer()).as("back to the read buffer").isNotSameAs(direct);
    }

    /** Issue 11 §1.2: no read buffer before the first read, 2 KiB while traffic is small, back to none when idle. */
    @Test
    void anIdleConnectionsReadBufferIsSmallTakenLazilyAndGivenBack() {
        final FrameDecoder d = new FrameDecoder(pool, 1 << 20, 131_072);
        decoders.add(d);
        assertThat(d.readBufferBytes()).as("nothing before the first read").isZero();
        assertThat(pool.outstanding()).isZero();

        assertThat(d.inboundBuffer().capacity()).isEqualTo(FrameDecoder.IDLE_READ_BYTES);
        final List<PooledBuffer> got = new ArrayList<>();
        d.inboundBuffer().put(frame(TYPE_CALL, 1, STATUS_OK, 100));
        d.decode(f -> got.add(f));
        assertThat(got).hasSize(1);
        assertThat(d.readBufferBytes()).as("a small frame keeps it small").isEqualTo(FrameDecoder.IDLE_READ_BYTES);

        // a frame larger than the small buffer (but gathered, below half of readBufferSize): moved to the full size
        final byte[] big = frame(TYPE_CALL, 2, STATUS_OK, 10_000);
        int off = 0;
        while (off < big.length) {
            final ByteBuffer dst = d.inboundBuffer();
            final int n = Math.min(dst.remaining(), big.length - off);
            dst.put(big, off, n);
            off += n;
            d.decode(f -> got.add(f));
        }
        assertThat(got).hasSize(2);
        WireTesting.assertSameBytes(WireTesting.bytesOf(got.get(1)), big);
        assertThat(d.readBufferBytes()).isEqualTo(131_072);

        // idle: given back when room is next asked for with nothing held, and a small one lent instead
        d.trimWhenIdle();
        got.forEach(PooledBuffer::release);
        assertThat(pool.outstanding()).as("the read buffer only").isEqualTo(1);
        assertThat(d.inboundBuffer().capacity()).isEqualTo(FrameDecoder.IDLE_READ_BYTES);
        assertThat(d.readBufferBytes()).as("the full one given back").isEqualTo(FrameDecoder.IDLE_READ_BYTES);
        assertThat(pool.outstanding()).isEqualTo(1);
    }

    @Test
    void closeReleasesAPartialLargeFrame() {
        final FrameDecoder d = decoder(1 << 20, 4096);
        final long outstanding = pool.outstanding();
        put(d, header(500_000, TYPE_REPLY, 1, STATUS_OK));
        d.decode(RELEASE);
        assertThat(pool.outstanding()).isEqualTo(outstanding + 1);
        d.close();
        assertThat(pool.outstanding()).isEqualTo(outstanding - 1); // and the read buffer
        d.close(); // idempotent
        assertThat(d.decode(RELEASE)).isFalse();
    }

    @Test
    void rejectsBadConstructorArguments() {
        assertThatThrownBy(() -> new FrameDecoder(pool, 27, 4096)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new FrameDecoder(pool, MAX, 55)).isInstanceOf(IllegalArgumentException.class);
    }

    // ------------------------------------------------------------------ pause / resume

    /** A sink that takes frames and pauses after each one. */
    private static final class PausingSink implements FrameDecoder.FrameSink {
        final List<byte[]> frames = new ArrayList<>();

        @Override
        public boolean onFrame(final PooledBuffer frame) {
            frames.add(WireTesting.bytesOf(frame));
            frame.release();
            return false;
        }
    }

    @Test
    void sinkReturningFalsePausesAfterThatFrameAndTheRestWaits() {
        final FrameDecoder d = decoder(MAX, 4096);
        final List<byte[]> frames = List.of(frame(TYPE_CALL, 1, STATUS_OK, 4), frame(TYPE_CALL, 2, STATUS_OK, 9),
                frame(TYPE_CALL, 3, STATUS_OK, 0));
        put(d, WireTesting.concat(frames));
        final PausingSink sink = new PausingSink();
        assertThat(d.decode(sink)).isFalse();
        assertThat(sink.frames).hasSize(1);
        assertThat(d.hasPartialFrame()).as("whole frames waiting are not a partial frame").isFalse();
        assertThat(d.decode(sink)).isFalse();
        assertThat(sink.frames).hasSize(2);
        // resume with a sink that keeps going: the last frame comes out, nothing is left
        final WireTesting.CollectingSink rest = new WireTesting.CollectingSink();
        assertThat(d.decode(rest)).isTrue();
        assertThat(rest.frames).hasSize(1);
        assertThat(sink.frames.get(0)).containsExactly(frames.get(0));
        assertThat(sink.frames.get(1)).containsExactly(frames.get(1));
        assertThat(rest.frames.get(0)).containsExactly(frames.get(2));
        assertThat(d.hasPartialFrame()).isFalse();
        assertThat(d.decode(rest)).as("nothing more").isTrue();
        assertThat(rest.frames).hasSize(1);
    }

    @Test
    void pauseOnALargeFrameThenResume() {
        final FrameDecoder d = decoder(1 << 20, 4096);
        final byte[] big = frame(TYPE_STREAM, 9, STATUS_CONTINUE, 50_000);
        final byte[] small = frame(TYPE_STREAM, 9, STATUS_OK, 0);
        final PausingSink sink = new PausingSink();
        final byte[] wire = WireTesting.concat(List.of(big, small));
        int off = 0;
        boolean paused = false;
        while (!paused) { // the whole big frame and a few bytes of the small one, in 1000-byte reads
            final ByteBuffer dst = d.inboundBuffer();
            final int n = Math.min(Math.min(dst.remaining(), 1000), big.length + 5 - off);
            dst.put(wire, off, n);
            off += n;
            paused = !d.decode(sink);
        }
        assertThat(off).isEqualTo(big.length);
        assertThat(sink.frames).hasSize(1);
        WireTesting.assertSameBytes(sink.frames.get(0), big);
        assertThat(d.hasPartialFrame()).isFalse();
        d.inboundBuffer().put(wire, off, wire.length - off);
        assertThat(d.decode(sink)).isFalse();
        assertThat(sink.frames).hasSize(2);
        WireTesting.assertSameBytes(sink.frames.get(1), small);
    }

    /**
     * The read buffer filled to the last byte with whole frames, and the sink pauses on the first: the
     * decoder must still offer room for the next read, as ConnectionHandler.inboundBuffer() promises.
     */
    @Test
    void stillHasRoomAfterPausingOnAFullReadBuffer() {
        final FrameDecoder d = decoder(MAX, 64); // the pool rounds the read buffer up to 512 bytes
        final int capacity = d.inboundBuffer().capacity();
        final byte[] one = frame(TYPE_CALL, 1, STATUS_OK, 4); // 32 bytes: 512 / 32 = 16 whole frames
        final List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < capacity / one.length; i++) {
            frames.add(one);
        }
        put(d, WireTesting.concat(frames));
        assertThat(d.inboundBuffer().hasRemaining()).isFalse();
        final PausingSink sink = new PausingSink();
        assertThat(d.decode(sink)).isFalse();
        assertThat(d.inboundBuffer().hasRemaining()).as("room after a pause").isTrue();
        // and nothing was lost or reordered by making that room
        final byte[] last = frame(TYPE_CALL, 2, STATUS_OK, 4);
        put(d, last);
        final WireTesting.CollectingSink rest = new WireTesting.CollectingSink();
        d.decode(rest);
        assertThat(sink.frames.size() + rest.frames.size()).isEqualTo(frames.size() + 1);
        assertThat(rest.frames.get(rest.frames.size() - 1)).containsExactly(last);
    }

    @Test
    void partialBytesCountsWhatWasReceivedOfTheNextFrame() {
        final FrameDecoder d = decoder(MAX, 4096);
        final byte[] f = frame(TYPE_REPLY, 4, STATUS_OK, 100);
        d.inboundBuffer().put(f, 0, 3);
        d.decode(RELEASE);
        assertThat(d.partialBytes()).isEqualTo(3);
        d.inboundBuffer().put(f, 3, 50);
        d.decode(RELEASE);
        assertThat(d.partialBytes()).isEqualTo(53);
        d.inboundBuffer().put(f, 53, f.length - 53);
        d.decode(RELEASE);
        assertThat(d.partialBytes()).isZero();
        assertThat(d.hasPartialFrame()).isFalse();
    }

    /**
     * Issue 11 §1.1: a header announcing a 32 MiB frame used to make the decoder take 32 MiB at once. Now
     * the frame's buffer follows the bytes that arrive (at most about four times them), and the frame still
     * arrives whole and intact.
     */
    @Test
    void aLargeFramesMemoryFollowsItsBytesNotItsHeader() {
        final dev.braid.buffer.BufferPool pool = new dev.braid.buffer.BufferPool(
                dev.braid.buffer.BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
        final int length = 32 << 20;
        final FrameDecoder d = new FrameDecoder(pool, 64 << 20, 131_072);
        final java.util.List<dev.braid.buffer.PooledBuffer> frames = new java.util.ArrayList<>();
        final ByteBuffer header = ByteBuffer.allocate(HEADER_LENGTH);
        header.putInt(length).putInt(0x11).putInt(1).putInt(2).putInt(TYPE_CALL).putInt(3).putInt(STATUS_OK).flip();
        d.inboundBuffer().put(header);
        d.decode(f -> frames.add(f));
        assertThat(frames).isEmpty();
        assertThat(d.largeFrameBufferBytes()).as("held after the header alone").isLessThanOrEqualTo(270_336);
        assertThat(d.partialLength()).isEqualTo(length);
        assertThat(d.partialSinceNanos()).isNotZero();
        long sent = HEADER_LENGTH;
        while (sent < length) {
            final ByteBuffer in = d.inboundBuffer();
            final int n = (int) Math.min(in.remaining(), Math.min(100_000, length - sent));
            for (int i = 0; i < n; i++) {
                in.put((byte) (sent + i));
            }
            sent += n;
            assertThat((long) d.largeFrameBufferBytes()).as("held after %d bytes", sent)
                    .isLessThanOrEqualTo(Math.max(270_336, 4 * sent + 1_048_576));
            d.decode(f -> frames.add(f));
        }
        assertThat(frames).hasSize(1);
        final ByteBuffer f = frames.get(0).byteBuffer();
        assertThat(f.remaining()).isEqualTo(length);
        for (int i = HEADER_LENGTH; i < length; i += 4099) {
            assertThat(f.get(i)).isEqualTo((byte) i);
        }
        assertThat(d.partialSinceNanos()).as("nothing partial after the frame").isZero();
        frames.get(0).release();
        d.close();
        assertThat(pool.outstanding()).isZero();
    }
}
