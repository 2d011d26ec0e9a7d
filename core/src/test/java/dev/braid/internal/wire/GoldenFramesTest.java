package dev.braid.internal.wire;

import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;
import dev.braid.RemoteError;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.braid.internal.wire.FrameHeader.*;
import static dev.braid.internal.wire.WireTesting.hex;
import static dev.braid.internal.wire.WireTesting.toHex;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Golden bytes, in the manner of libvirt's tests/virnetmessagetest.c: each frame is built with {@link Frames}
 * (claim / fill / commit) and compared byte for byte with the layout libvirt puts on the wire, then the
 * same bytes are decoded with {@link FrameDecoder} (and {@link RemoteErrorCodec}) and every field is checked.
 *
 * <p>The expected arrays are written out by hand from the XDR rules (big-endian words; strings as length,
 * bytes, zero padding to 4; {@code string*} and {@code struct*} as a bool then the value; stream data raw,
 * unpadded), not produced by the code under test.
 */
class GoldenFramesTest {
    private static final int REMOTE_PROGRAM = 0x20008086;
    private static final int STREAM_PROC = 209;

    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);

    @AfterEach
    void noLeaks() {
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    // ------------------------------------------------------------------ golden arrays

    /** CALL prog 0x20008086 vers 1 proc 66 serial 0x99, args {remote_string name; unsigned flags}. */
    static final byte[] CALL = hex(
            "00 00 00 38", // length 56
            "20 00 80 86", // prog
            "00 00 00 01", // vers 1
            "00 00 00 42", // proc 66
            "00 00 00 00", // type CALL
            "00 00 00 99", // serial 0x99
            "00 00 00 00", // status OK
            "00 00 00 01", // name: present
            "00 00 00 0f", //   length 15
            "74 65 73 74", //   "test"
            "3a 2f 2f 2f", //   ":///"
            "64 65 66 61", //   "defa"
            "75 6c 74 00", //   "ult" + 1 pad byte
            "00 00 00 01"  // flags 1
    );

    /** REPLY OK to the CALL above, ret {remote_auth_type types<>} holding one entry (0, "none"). */
    static final byte[] REPLY_OK = hex(
            "00 00 00 24", // length 36
            "20 00 80 86", // prog
            "00 00 00 01", // vers 1
            "00 00 00 42", // proc 66
            "00 00 00 01", // type REPLY
            "00 00 00 99", // serial 0x99
            "00 00 00 00", // status OK
            "00 00 00 01", // types: count 1
            "00 00 00 00"  //   [0] = 0
    );

    /** REPLY ERROR whose payload is a remote_error with every optional part present; covers all 4 paddings. */
    static final byte[] REPLY_ERROR = hex(
            "00 00 00 b0", // length 176
            "20 00 80 86", // prog
            "00 00 00 01", // vers 1
            "00 00 00 17", // proc 23
            "00 00 00 01", // type REPLY
            "00 00 12 34", // serial 0x1234
            "00 00 00 01", // status ERROR
            "00 00 00 2a", // code 42
            "00 00 00 0a", // domain 10
            "00 00 00 01", // message: present
            "00 00 00 10", //   length 16
            "44 6f 6d 61", //   "Doma"
            "69 6e 20 6e", //   "in n"
            "6f 74 20 66", //   "ot f"
            "6f 75 6e 64", //   "ound" (no padding)
            "00 00 00 02", // level 2
            "00 00 00 01", // dom: present
            "00 00 00 05", //   name length 5
            "77 65 62 30", //   "web0"
            "31 00 00 00", //   "1" + 3 pad bytes
            "4d 2e 1a 7c", //   uuid[16]
            "9b 3f 40 11", //
            "8e 5d 01 23", //
            "45 67 89 ab", //
            "00 00 00 07", //   id 7
            "00 00 00 01", // str1: present
            "00 00 00 04", //   length 4
            "71 65 6d 75", //   "qemu"
            "00 00 00 01", // str2: present
            "00 00 00 02", //   length 2
            "61 62 00 00", //   "ab" + 2 pad bytes
            "00 00 00 01", // str3: present
            "00 00 00 03", //   length 3
            "78 79 7a 00", //   "xyz" + 1 pad byte
            "ff ff ff ff", // int1 -1
            "12 34 56 78", // int2 0x12345678
            "00 00 00 01", // net: present
            "00 00 00 07", //   name length 7
            "64 65 66 61", //   "defa"
            "75 6c 74 00", //   "ult" + 1 pad byte
            "f0 e1 d2 c3", //   uuid[16]
            "b4 a5 96 87", //
            "78 69 5a 4b", //
            "3c 2d 1e 0f"  //
    );

    static final RemoteError REMOTE_ERROR = new RemoteError(42, 10, "Domain not found", 2,
            new RemoteError.Dom("web01", hex("4d2e1a7c 9b3f4011 8e5d0123 456789ab"), 7),
            "qemu", "ab", "xyz", -1, 0x12345678,
            new RemoteError.Net("default", hex("f0e1d2c3 b4a59687 78695a4b 3c2d1e0f")));

    /** MESSAGE: libvirt's keepalive PING (prog "keep", vers 1, proc 1, serial 0, status OK, no payload). */
    static final byte[] KEEPALIVE_PING = hex(
            "00 00 00 1c", // length 28
            "6b 65 65 70", // prog "keep"
            "00 00 00 01", // vers 1
            "00 00 00 01", // proc 1 PING
            "00 00 00 02", // type MESSAGE
            "00 00 00 00", // serial 0
            "00 00 00 00"  // status OK
    );

    /** STREAM CONTINUE with 13 raw bytes: stream data is not XDR-wrapped, so no length word and no padding. */
    static final byte[] STREAM_DATA = hex(
            "00 00 00 29", // length 41
            "20 00 80 86", // prog
            "00 00 00 01", // vers 1
            "00 00 00 d1", // proc 209
            "00 00 00 03", // type STREAM
            "00 00 00 2a", // serial 42 (the CALL that opened the stream)
            "00 00 00 02", // status CONTINUE
            "62 72 61 69", // "brai"
            "64 00 ff 80", // "d", 0x00, 0xff, 0x80
            "7f 01 fe 0d", //
            "0a"           // last byte; frame ends here, unpadded
    );

    static final byte[] STREAM_DATA_PAYLOAD = hex("62 72 61 69 64 00 ff 80 7f 01 fe 0d 0a");

    /** STREAM_HOLE: status CONTINUE, payload {hyper length; unsigned flags}. */
    static final byte[] STREAM_HOLE = hex(
            "00 00 00 28", // length 40
            "20 00 80 86", // prog
            "00 00 00 01", // vers 1
            "00 00 00 d1", // proc 209
            "00 00 00 06", // type STREAM_HOLE
            "00 00 00 2a", // serial 42
            "00 00 00 02", // status CONTINUE
            "00 00 00 01", // length: hyper 0x0000000100002000 (high word first)
            "00 00 20 00", //
            "00 00 00 00"  // flags 0
    );

    /** STREAM OK with no payload: the finish handshake. */
    static final byte[] STREAM_FINISH = hex(
            "00 00 00 1c", // length 28
            "20 00 80 86", // prog
            "00 00 00 01", // vers 1
            "00 00 00 d1", // proc 209
            "00 00 00 03", // type STREAM
            "00 00 00 2a", // serial 42
            "00 00 00 00"  // status OK
    );

    // ------------------------------------------------------------------ encoding

    @Test
    void call() {
        final PooledBuffer f = Frames.claim(pool, 64);
        final ByteBuffer b = f.byteBuffer();
        assertThat(b.position()).isEqualTo(PAYLOAD_OFFSET);
        XdrWriter.writeOptionalString(b, "test:///default");
        b.putInt(1);
        Frames.commit(f, REMOTE_PROGRAM, 1, 66, TYPE_CALL, 0x99, STATUS_OK);
        assertGolden(f, CALL);
    }

    @Test
    void replyOk() {
        final PooledBuffer f = Frames.claim(pool, 8);
        f.byteBuffer().putInt(1).putInt(0);
        Frames.commit(f, REMOTE_PROGRAM, 1, 66, TYPE_REPLY, 0x99, STATUS_OK);
        assertGolden(f, REPLY_OK);
    }

    @Test
    void replyError() {
        assertThat(RemoteErrorCodec.encodedSize(REMOTE_ERROR)).isEqualTo(REPLY_ERROR.length - HEADER_LENGTH);
        final PooledBuffer f = Frames.claim(pool, RemoteErrorCodec.encodedSize(REMOTE_ERROR));
        RemoteErrorCodec.encode(REMOTE_ERROR, f.byteBuffer());
        Frames.commit(f, REMOTE_PROGRAM, 1, 23, TYPE_REPLY, 0x1234, STATUS_ERROR);
        assertGolden(f, REPLY_ERROR);
    }

    @Test
    void keepalivePing() {
        assertThat(new String(hex("6b656570"), StandardCharsets.US_ASCII)).isEqualTo("keep");
        final PooledBuffer f = Frames.empty(pool, Extension.KEEPALIVE_PROGRAM, Extension.KEEPALIVE_VERSION,
                Extension.KEEPALIVE_PING, TYPE_MESSAGE, 0, STATUS_OK);
        assertGolden(f, KEEPALIVE_PING);
    }

    @Test
    void streamData() {
        final PooledBuffer f = Frames.claim(pool, STREAM_DATA_PAYLOAD.length);
        f.byteBuffer().put(STREAM_DATA_PAYLOAD);
        Frames.commit(f, REMOTE_PROGRAM, 1, STREAM_PROC, TYPE_STREAM, 42, STATUS_CONTINUE);
        assertGolden(f, STREAM_DATA);
    }

    @Test
    void streamHole() {
        final PooledBuffer f = Frames.claim(pool, 12);
        f.byteBuffer().putLong(0x1_0000_2000L).putInt(0);
        Frames.commit(f, REMOTE_PROGRAM, 1, STREAM_PROC, TYPE_STREAM_HOLE, 42, STATUS_CONTINUE);
        assertGolden(f, STREAM_HOLE);
    }

    @Test
    void streamFinish() {
        final PooledBuffer f = Frames.empty(pool, REMOTE_PROGRAM, 1, STREAM_PROC, TYPE_STREAM, 42, STATUS_OK);
        assertGolden(f, STREAM_FINISH);
    }

    /** Compares the committed frame with the golden bytes (position 0, limit = length) and releases it. */
    private static void assertGolden(final PooledBuffer frame, final byte[] expected) {
        try {
            assertThat(frame.byteBuffer().position()).isZero();
            assertThat(frame.byteBuffer().limit()).isEqualTo(expected.length);
            assertThat(Frames.length(frame)).isEqualTo(expected.length);
            final byte[] actual = WireTesting.bytesOf(frame);
            assertThat(toHex(actual)).as("encoded frame").isEqualTo(toHex(expected));
        } finally {
            frame.release();
        }
    }

    // ------------------------------------------------------------------ decoding

    @Test
    void decodesCall() {
        final PooledBuffer f = decodeOne(CALL);
        try {
            assertHeader(f, 56, REMOTE_PROGRAM, 1, 66, TYPE_CALL, 0x99, STATUS_OK);
            final ByteBuffer p = Frames.payloadView(f);
            assertThat(XdrReader.readOptionalString(p, "name")).isEqualTo("test:///default");
            assertThat(XdrReader.readInt(p, "flags")).isEqualTo(1);
            assertThat(p.hasRemaining()).isFalse();
        } finally {
            f.release();
        }
    }

    @Test
    void decodesReplyOk() {
        final PooledBuffer f = decodeOne(REPLY_OK);
        try {
            assertHeader(f, 36, REMOTE_PROGRAM, 1, 66, TYPE_REPLY, 0x99, STATUS_OK);
            final ByteBuffer p = Frames.payloadView(f);
            assertThat(XdrReader.readInt(p, "count")).isEqualTo(1);
            assertThat(XdrReader.readInt(p, "types[0]")).isZero();
            assertThat(p.hasRemaining()).isFalse();
        } finally {
            f.release();
        }
    }

    @Test
    void decodesReplyError() {
        final PooledBuffer f = decodeOne(REPLY_ERROR);
        try {
            assertHeader(f, 176, REMOTE_PROGRAM, 1, 23, TYPE_REPLY, 0x1234, STATUS_ERROR);
            final ByteBuffer p = Frames.payloadView(f);
            final RemoteError e = RemoteErrorCodec.decode(p);
            assertThat(p.hasRemaining()).isFalse();
            assertThat(e).isEqualTo(REMOTE_ERROR);
            // field by field too, so that a broken RemoteError.equals cannot hide a decoding error
            assertThat(e.code()).isEqualTo(42);
            assertThat(e.domain()).isEqualTo(10);
            assertThat(e.message()).isEqualTo("Domain not found");
            assertThat(e.level()).isEqualTo(2);
            assertThat(e.dom().name()).isEqualTo("web01");
            assertThat(e.dom().uuid()).containsExactly(hex("4d2e1a7c9b3f40118e5d0123456789ab"));
            assertThat(e.dom().id()).isEqualTo(7);
            assertThat(e.str1()).isEqualTo("qemu");
            assertThat(e.str2()).isEqualTo("ab");
            assertThat(e.str3()).isEqualTo("xyz");
            assertThat(e.int1()).isEqualTo(-1);
            assertThat(e.int2()).isEqualTo(0x12345678);
            assertThat(e.net().name()).isEqualTo("default");
            assertThat(e.net().uuid()).containsExactly(hex("f0e1d2c3b4a5968778695a4b3c2d1e0f"));
        } finally {
            f.release();
        }
    }

    @Test
    void decodesKeepalivePing() {
        final PooledBuffer f = decodeOne(KEEPALIVE_PING);
        try {
            assertHeader(f, 28, Extension.KEEPALIVE_PROGRAM, 1, Extension.KEEPALIVE_PING, TYPE_MESSAGE, 0, STATUS_OK);
            assertThat(Frames.payloadView(f).remaining()).isZero();
        } finally {
            f.release();
        }
    }

    @Test
    void decodesStreamData() {
        final PooledBuffer f = decodeOne(STREAM_DATA);
        try {
            assertHeader(f, 41, REMOTE_PROGRAM, 1, STREAM_PROC, TYPE_STREAM, 42, STATUS_CONTINUE);
            final ByteBuffer p = Frames.payloadView(f);
            final byte[] data = new byte[p.remaining()];
            p.get(data);
            assertThat(data).containsExactly(STREAM_DATA_PAYLOAD);
        } finally {
            f.release();
        }
    }

    @Test
    void decodesStreamHole() {
        final PooledBuffer f = decodeOne(STREAM_HOLE);
        try {
            assertHeader(f, 40, REMOTE_PROGRAM, 1, STREAM_PROC, TYPE_STREAM_HOLE, 42, STATUS_CONTINUE);
            final ByteBuffer p = Frames.payloadView(f);
            assertThat(XdrReader.readHyper(p, "length")).isEqualTo(0x1_0000_2000L);
            assertThat(XdrReader.readInt(p, "flags")).isZero();
            assertThat(p.hasRemaining()).isFalse();
        } finally {
            f.release();
        }
    }

    @Test
    void decodesStreamFinish() {
        final PooledBuffer f = decodeOne(STREAM_FINISH);
        try {
            assertHeader(f, 28, REMOTE_PROGRAM, 1, STREAM_PROC, TYPE_STREAM, 42, STATUS_OK);
        } finally {
            f.release();
        }
    }

    /** All golden frames back to back, through a small read buffer, in every read size from 1 to 200 bytes. */
    @Test
    void decodesAllGoldenFramesBackToBackInAnyReadSize() {
        final List<byte[]> golden = List.of(CALL, REPLY_OK, REPLY_ERROR, KEEPALIVE_PING, STREAM_DATA, STREAM_HOLE,
                STREAM_FINISH);
        final byte[] wire = WireTesting.concat(golden);
        for (int chunk = 1; chunk <= 200; chunk++) {
            final FrameDecoder d = new FrameDecoder(pool, 4096, 64);
            final WireTesting.CollectingSink sink = new WireTesting.CollectingSink();
            final int c = chunk;
            WireTesting.feed(d, wire, () -> c, sink, null);
            assertThat(d.hasPartialFrame()).isFalse();
            d.close();
            assertThat(sink.frames).as("read size %d", chunk).hasSize(golden.size());
            for (int i = 0; i < golden.size(); i++) {
                assertThat(sink.frames.get(i)).as("frame %d, read size %d", i, chunk).containsExactly(golden.get(i));
            }
        }
    }

    /** Feeds {@code wire} one byte per read (the most incremental case) and returns the single frame decoded. */
    private PooledBuffer decodeOne(final byte[] wire) {
        final FrameDecoder d = new FrameDecoder(pool, 4096, 4096);
        final List<PooledBuffer> out = new ArrayList<>();
        try {
            WireTesting.feed(d, wire, () -> 1, f -> out.add(f), () -> {
                if (out.isEmpty()) {
                    assertThat(d.hasPartialFrame()).isTrue();
                }
            });
            assertThat(d.hasPartialFrame()).isFalse();
        } finally {
            d.close();
        }
        assertThat(out).hasSize(1);
        final PooledBuffer f = out.get(0);
        assertThat(WireTesting.bytesOf(f)).containsExactly(wire);
        return f;
    }

    private static void assertHeader(final PooledBuffer f, final int length, final int prog, final int vers,
                                     final int proc, final int type, final int serial, final int status) {
        assertThat(f.byteBuffer().position()).isZero();
        assertThat(f.byteBuffer().limit()).isEqualTo(length);
        assertThat(Frames.length(f)).as("length").isEqualTo(length);
        assertThat(Frames.prog(f)).as("prog").isEqualTo(prog);
        assertThat(Frames.vers(f)).as("vers").isEqualTo(vers);
        assertThat(Frames.proc(f)).as("proc").isEqualTo(proc);
        assertThat(Frames.type(f)).as("type").isEqualTo(type);
        assertThat(Frames.serial(f)).as("serial").isEqualTo(serial);
        assertThat(Frames.status(f)).as("status").isEqualTo(status);
        assertThat(Frames.payloadView(f).isReadOnly()).isTrue();
        assertThat(Frames.payloadView(f).remaining()).isEqualTo(length - HEADER_LENGTH);
    }
}
