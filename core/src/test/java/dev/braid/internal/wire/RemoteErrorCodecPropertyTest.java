package dev.braid.internal.wire;

import dev.braid.xdr.XdrLimits;
import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.braid.internal.wire.FrameHeader.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** remote_error round trips, exact sizes, and what happens to truncated or garbled encodings. */
class RemoteErrorCodecPropertyTest {

    @Property(tries = 400)
    void roundTripsThroughXdr(@ForAll("remoteErrors") final RemoteError e) {
        final int size = RemoteErrorCodec.encodedSize(e);
        final ByteBuffer b = ByteBuffer.allocate(size + 8);
        RemoteErrorCodec.encode(e, b);
        assertThat(b.position()).as("encodedSize is exact").isEqualTo(size);
        assertThat(size % 4).as("XDR keeps 4-byte alignment").isZero();
        b.flip();
        final RemoteError back = RemoteErrorCodec.decode(b);
        assertThat(b.hasRemaining()).isFalse();
        assertThat(back).isEqualTo(e);
        assertThat(back.message()).isEqualTo(e.message());
        assertThat(back.str1()).isEqualTo(e.str1());
        assertThat(back.str2()).isEqualTo(e.str2());
        assertThat(back.str3()).isEqualTo(e.str3());
        Statistics.label("optional parts present").collect(
                (e.message() != null ? 1 : 0) + (e.dom() != null ? 1 : 0) + (e.str1() != null ? 1 : 0)
                        + (e.str2() != null ? 1 : 0) + (e.str3() != null ? 1 : 0) + (e.net() != null ? 1 : 0));
    }

    /** The same, as the payload of a REPLY ERROR frame built with Frames and read back with FrameDecoder. */
    @Property(tries = 150)
    void roundTripsAsAnErrorReply(@ForAll("remoteErrors") final RemoteError e, @ForAll final int serial) {
        final BufferPool pool = new BufferPool();
        final PooledBuffer f = Frames.claim(pool, RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, f.byteBuffer());
        Frames.commit(f, 0x20008086, 1, 23, TYPE_REPLY, serial, STATUS_ERROR);
        final byte[] wire = WireTesting.bytesOf(f);
        f.release();

        final FrameDecoder d = new FrameDecoder(pool, DEFAULT_MAX_MESSAGE, 4096);
        final List<RemoteError> decoded = new ArrayList<>();
        try {
            WireTesting.feed(d, wire, () -> 13, frame -> {
                try {
                    assertThat(Frames.serial(frame)).isEqualTo(serial);
                    assertThat(Frames.status(frame)).isEqualTo(STATUS_ERROR);
                    final ByteBuffer p = Frames.payloadView(frame);
                    decoded.add(RemoteErrorCodec.decode(p));
                    assertThat(p.hasRemaining()).isFalse();
                } finally {
                    frame.release();
                }
                return true;
            }, null);
        } finally {
            d.close();
        }
        assertThat(decoded).containsExactly(e);
        assertThat(pool.outstanding()).isZero();
    }

    /** Every strict prefix of an encoding is malformed, and says so with a ProtocolException. */
    @Property(tries = 150)
    void everyTruncationIsAProtocolException(@ForAll("remoteErrors") final RemoteError e) {
        final ByteBuffer b = ByteBuffer.allocate(RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, b);
        for (int n = 0; n < b.capacity(); n++) {
            final ByteBuffer prefix = b.slice(0, n);
            assertThatThrownBy(() -> RemoteErrorCodec.decode(prefix)).as("prefix of %d bytes", n)
                    .isInstanceOf(ProtocolException.class);
        }
    }

    /** Garbled bytes decode to something or throw ProtocolException; never another exception. */
    @Property(tries = 400)
    void garbageNeverThrowsAnythingButProtocolException(@ForAll("remoteErrors") final RemoteError e,
                                                        @ForAll("garble") final List<Tuple.Tuple2<Double, Integer>> edits) {
        final ByteBuffer b = ByteBuffer.allocate(RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, b);
        for (Tuple.Tuple2<Double, Integer> edit : edits) {
            final int p = Math.min(b.capacity() - 4, (int) (edit.get1() * b.capacity())) & ~3;
            b.putInt(p, edit.get2());
        }
        b.clear();
        String outcome;
        try {
            RemoteErrorCodec.decode(b);
            outcome = "decoded";
        } catch (ProtocolException ex) {
            outcome = "ProtocolException";
        }
        Statistics.collect(outcome);
    }

    @Property(tries = 300)
    void utf8LengthMatchesTheEncoder(@ForAll("unicode") final String s) {
        assertThat(XdrWriter.utf8Length(s)).isEqualTo(s.getBytes(StandardCharsets.UTF_8).length);
        final ByteBuffer b = ByteBuffer.allocate(XdrWriter.sizeOfString(s));
        XdrWriter.writeString(b, s);
        assertThat(b.hasRemaining()).isFalse();
        b.flip();
        assertThat(XdrReader.readString(b, "s")).isEqualTo(s);
    }

    // ------------------------------------------------------------------ generators

    @Provide
    Arbitrary<RemoteError> remoteErrors() {
        final Arbitrary<String> str = unicode();
        final Arbitrary<String> opt = str.injectNull(0.3);
        final Arbitrary<byte[]> uuid = Arbitraries.longs().map(seed -> WireTesting.randomBytes(seed, 16));
        final Arbitrary<RemoteError.Dom> dom = Combinators.combine(str, uuid, Arbitraries.integers())
                .as(RemoteError.Dom::new).injectNull(0.4);
        final Arbitrary<RemoteError.Net> net = Combinators.combine(str, uuid).as(RemoteError.Net::new).injectNull(0.4);
        final Arbitrary<int[]> ints = Arbitraries.integers().array(int[].class).ofSize(5);
        return Combinators.combine(ints, opt, dom, opt, opt, opt, net).as((i, message, d, s1, s2, s3, n) ->
                new RemoteError(i[0], i[1], message, i[2], d, s1, s2, s3, i[3], i[4], n));
    }

    /** Well-formed Unicode (no lone surrogates, which UTF-8 cannot carry): ASCII, NUL and controls, 2-, 3- and 4-byte forms. */
    @Provide
    Arbitrary<String> unicode() {
        final List<Tuple.Tuple2<Integer, Arbitrary<Integer>>> codePoints = List.of(
                Tuple.of(6, Arbitraries.integers().between(0x20, 0x7e)),
                Tuple.of(1, Arbitraries.integers().between(0, 0x7f)),
                Tuple.of(2, Arbitraries.integers().between(0x80, 0x7ff)),
                Tuple.of(2, Arbitraries.integers().between(0x800, 0xffff).filter(c -> c < 0xd800 || c > 0xdfff)),
                Tuple.of(2, Arbitraries.integers().between(0x10000, 0x10ffff)));
        return Arbitraries.frequencyOf(codePoints).list().ofMaxSize(40).map(cps -> {
            final StringBuilder sb = new StringBuilder();
            cps.forEach(sb::appendCodePoint);
            return sb.toString();
        });
    }

    @Provide
    Arbitrary<List<Tuple.Tuple2<Double, Integer>>> garble() {
        final Arbitrary<Integer> words = Arbitraries.oneOf(List.of(
                Arbitraries.of(0, 1, 2, -1, 3, 4, 15, 16, 17, XdrLimits.LIBVIRT_MAX_STRING, XdrLimits.LIBVIRT_MAX_STRING + 1, Integer.MAX_VALUE,
                        Integer.MIN_VALUE),
                Arbitraries.integers()));
        return Combinators.combine(Arbitraries.doubles().between(0, 1), words).as(Tuple::of).list().ofMinSize(1)
                .ofMaxSize(4);
    }
}
